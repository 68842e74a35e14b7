"""A cursor value of the wrong shape never becomes the watermark."""

from __future__ import annotations

from cintel.state import CursorTracker


def tracker(state: dict | None = None) -> CursorTracker:
    return CursorTracker(state, cursor_field="updated_at", primary_key=("id",))


def test_a_text_value_in_a_date_column_does_not_become_the_watermark() -> None:
    t = tracker()
    t.observe(
        [
            {"id": 1, "updated_at": "2026-10-01T10:00:00Z"},
            {"id": 2, "updated_at": "not a date"},  # sorts after every date as text
            {"id": 3, "updated_at": "2026-10-02T10:00:00Z"},
        ]
    )
    assert t.state()["pending"]["watermark"] == "2026-10-02T10:00:00Z"
    assert t.skipped_values == 1
    # after the commit, a later record dated between the two still counts as new
    committed = CursorTracker(
        {"watermark": "2026-10-02T10:00:00Z", "boundary": []},
        cursor_field="updated_at",
        primary_key=("id",),
    )
    assert committed.is_new({"id": 4, "updated_at": "2026-10-03T00:00:00Z"})
    assert not committed.is_new({"id": 5, "updated_at": "2026-10-01T00:00:00Z"})


def test_a_stray_text_watermark_gives_way_to_the_first_real_date() -> None:
    t = tracker()
    t.observe([{"id": 1, "updated_at": "unknown"}, {"id": 2, "updated_at": "2026-01-01"}])
    assert t.state()["pending"]["watermark"] == "2026-01-01"
    assert t.skipped_values == 0


def test_numbers_compare_as_numbers_and_text_ids_are_left_out() -> None:
    t = tracker()
    t.observe(
        [{"id": 1, "updated_at": 9}, {"id": 2, "updated_at": 10}, {"id": 3, "updated_at": "x"}]
    )
    assert t.state()["pending"]["watermark"] == 10
    assert t.skipped_values == 1
