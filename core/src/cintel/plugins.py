"""Plugin discovery and the typed registry of connectors, sinks and models.

How a plugin is found: an entry point in group ``cintel`` names a module with
``@hookimpl`` functions (see :mod:`cintel.hookspecs`). Load order: built-in
plugins first, then entry points, then ``check_pending()`` so a misspelt hook
name is an error. Nothing is loaded at import time: a :class:`Plugins` object
loads on first use, and each pipeline may have its own.

Environment switches (also settable on :class:`Plugins`):

``CINTEL_DISABLE_PLUGINS=a,b``
    entry-point or distribution names not to load.
``CINTEL_LOAD_PLUGINS=a,b``
    if set, load only these entry points (an allow-list).

A plugin that fails to import is skipped with a warning naming it; it shows
as ``broken`` in ``cintel plugins``. Two plugins registering the same name
is a :class:`~cintel.errors.DuplicatePluginError` naming both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
import structlog

from cintel import hookspecs
from cintel.errors import DuplicatePluginError, PluginError, UnknownPluginError
from cintel.logs import ensure_logging
from cintel.settings import CintelSettings

if TYPE_CHECKING:
    from cintel.pipeline import BatchInfo, RunContext, RunResult
    from cintel.sink import Sink
    from cintel.source import Connector

__all__ = ["PluginInfo", "Plugins", "Registration"]

log = structlog.get_logger("cintel.plugins")

ENTRY_POINT_GROUP = "cintel"


@dataclass(frozen=True, slots=True)
class Registration:
    """Something a plugin registered: its kind, name, object and the plugin it came from."""

    kind: str
    name: str
    obj: Any
    plugin: str


@dataclass(slots=True)
class PluginInfo:
    """A plugin as ``cintel plugins`` shows it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # loaded | disabled | broken
    error: str | None = None
    provides: list[str] = field(default_factory=list)


def _split(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


class Plugins:
    """A plugin manager and registry, loaded lazily on first use.

    ``builtins`` are modules (or objects) with hook implementations registered
    before any entry point. ``entry_points=False`` skips entry points entirely
    (useful in tests); ``disabled`` and ``allowed`` override the environment.
    """

    def __init__(
        self,
        *,
        builtins: Iterable[object] = (),
        entry_points: bool = True,
        disabled: Iterable[str] | None = None,
        allowed: Iterable[str] | None = None,
    ) -> None:
        settings = CintelSettings()
        self._builtins = list(builtins)
        self._entry_points = entry_points
        self._disabled = set(disabled) if disabled is not None else _split(settings.disable_plugins)
        self._allowed = (
            set(allowed) if allowed is not None else _split(settings.load_plugins) or None
        )
        self._pm: pluggy.PluginManager | None = None
        self._infos: list[PluginInfo] = []
        self._registry: dict[tuple[str, str], Registration] = {}
        self._lock = threading.Lock()

    # loading -------------------------------------------------------------------
    @property
    def pm(self) -> pluggy.PluginManager:
        """The underlying pluggy manager, loading plugins on first access."""
        with self._lock:
            if self._pm is None:
                self._pm = self._load()
            return self._pm

    def _load(self) -> pluggy.PluginManager:
        ensure_logging()
        pm = pluggy.PluginManager("cintel")
        pm.add_hookspecs(hookspecs)
        for obj in self._builtins:
            name = getattr(obj, "__name__", None) or type(obj).__name__
            pm.register(obj, name=name)
            self._infos.append(
                PluginInfo(name=name, module=name, distribution="cintel", status="loaded")
            )
        if self._entry_points:
            self._load_entry_points(pm)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
        self._collect(pm)
        return pm

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        seen: set[str] = set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if ep.name in seen:  # the same distribution seen twice on sys.path
                continue
            seen.add(ep.name)
            info = PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version)
            self._infos.append(info)
            if ep.name in self._disabled or (dist is not None and dist in self._disabled):
                info.status = "disabled"
                continue
            if self._allowed is not None and ep.name not in self._allowed:
                info.status = "disabled"
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop cintel
                info.status = "broken"
                info.error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "plugin failed to load, skipping it",
                    plugin=ep.name,
                    distribution=dist,
                    error=info.error,
                )
                continue
            try:
                pm.register(module, name=ep.name)
            except ValueError as exc:
                info.status = "broken"
                info.error = str(exc)
                log.warning(
                    "plugin could not be registered, skipping it", plugin=ep.name, error=info.error
                )

    def _collect(self, pm: pluggy.PluginManager) -> None:
        kinds: list[tuple[str, str]] = [
            ("connector", "cintel_connectors"),
            ("sink", "cintel_sinks"),
            ("attribution_model", "cintel_attribution_models"),
            ("identity_matcher", "cintel_identity_matchers"),
        ]
        infos = {info.name: info for info in self._infos}
        for kind, hook_name in kinds:
            hook = getattr(pm.hook, hook_name)
            for impl in reversed(hook.get_hookimpls()):  # registration order
                plugin = impl.plugin_name

                def register(*args: Any, _kind: str = kind, _plugin: str = plugin) -> None:
                    self._add(_kind, _plugin, *args)

                impl.function(register)
                if plugin in infos:
                    infos[plugin].provides = sorted(
                        f"{r.kind}:{r.name}" for r in self._registry.values() if r.plugin == plugin
                    )

    def _add(self, kind: str, plugin: str, *args: Any) -> None:
        if len(args) == 1:
            obj = args[0]
            name = getattr(obj, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(
                    f"plugin {plugin!r} registered a {kind} without a name: {obj!r}", plugin=plugin
                )
        elif len(args) == 2:
            name, obj = args
        else:
            raise PluginError(
                f"plugin {plugin!r}: register() takes a class or (name, object)", plugin=plugin
            )
        key = (kind, name)
        if key in self._registry:
            first, second = sorted((self._registry[key].plugin, plugin))
            raise DuplicatePluginError(
                f"{kind} {name!r} is registered by two plugins, {first!r} and {second!r}; "
                f"uninstall one or block it with CINTEL_DISABLE_PLUGINS={second}",
                plugin=plugin,
            )
        self._registry[key] = Registration(kind, name, obj, plugin)

    # queries -------------------------------------------------------------------
    def _all(self, kind: str) -> dict[str, Registration]:
        _ = self.pm
        return {name: reg for (k, name), reg in sorted(self._registry.items()) if k == kind}

    def _get(self, kind: str, name: str) -> Any:
        regs = self._all(kind)
        if name not in regs:
            raise UnknownPluginError(kind.replace("_", " "), name, list(regs))
        return regs[name].obj

    def connectors(self) -> dict[str, Registration]:
        """Registered connectors by name."""
        return self._all("connector")

    def sinks(self) -> dict[str, Registration]:
        """Registered sinks by name."""
        return self._all("sink")

    def attribution_models(self) -> dict[str, Registration]:
        """Registered attribution models by name."""
        return self._all("attribution_model")

    def identity_matchers(self) -> dict[str, Registration]:
        """Registered identity matchers by name."""
        return self._all("identity_matcher")

    def connector(self, name: str) -> type[Connector]:
        """The connector class registered as ``name``."""
        cls: type[Connector] = self._get("connector", name)
        return cls

    def sink(self, name: str) -> type[Sink]:
        """The sink class registered as ``name``."""
        cls: type[Sink] = self._get("sink", name)
        return cls

    def infos(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not."""
        _ = self.pm
        return list(self._infos)

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register one more plugin object (tests, embedding services) and re-collect."""
        pm = self.pm
        registered = pm.register(plugin, name=name)
        if registered is None:
            return
        self._infos.append(
            PluginInfo(name=registered, module=getattr(plugin, "__name__", registered))
        )
        self._registry.clear()
        self._collect(pm)

    # typed hook calls --------------------------------------------------------------
    def _call(self, hook_name: str, **kwargs: Any) -> None:
        hook: Callable[..., Any] = getattr(self.pm.hook, hook_name)
        try:
            hook(**kwargs)
        except Exception as exc:  # noqa: BLE001 - an observer must not break a sync
            log.error("plugin hook failed", hook=hook_name, error=f"{type(exc).__name__}: {exc}")

    def run_started(self, run: RunContext) -> None:
        """Call ``cintel_run_started``."""
        self._call("cintel_run_started", run=run)

    def batch_committed(self, run: RunContext, batch: BatchInfo) -> None:
        """Call ``cintel_batch_committed``."""
        self._call("cintel_batch_committed", run=run, batch=batch)

    def run_finished(self, run: RunContext, result: RunResult) -> None:
        """Call ``cintel_run_finished``."""
        self._call("cintel_run_finished", run=run, result=result)

    def register_commands(self, cli: Any) -> None:
        """Call ``cintel_register_commands`` so plugins add CLI commands."""
        self.pm.hook.cintel_register_commands(cli=cli)


def module_plugin(name: str, **hooks: Callable[..., Any]) -> ModuleType:
    """Build a plugin module from functions (tests and embedding services)."""
    module = ModuleType(name)
    for hook_name, func in hooks.items():
        setattr(module, hook_name, hookspecs.hookimpl(func))
    return module
