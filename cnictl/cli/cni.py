"""`cnictl cni`: run CNI plugin chains like a runtime (cnitool's verbs, libcni's semantics), emit conflists
for cnictl networks, and install the cnictl plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnictl.cli.options import JsonOpt, NetworkArg, State
from cnictl.plan import changing

if TYPE_CHECKING:
    from cnictl.cni.conf import ConfList
    from cnictl.cni.runtime import Runtime, RuntimeConf

app = typer.Typer(no_args_is_help=True,
                  help="Run CNI plugins like a runtime (add, del, check, gc, status, version), emit conflists, "
                       "install the plugin.")

CniNetnsArg = Annotated[
    str, typer.Argument(metavar="NETNS", help="Container network namespace: a name under /run/netns or a path "
                        "(made absolute).", show_default=False)
]
IfOpt = Annotated[str, typer.Option("--ifname", "-i", metavar="IFNAME", envvar="CNI_IFNAME",
                                    help="Interface name in the container.")]
IdOpt = Annotated[
    str | None,
    typer.Option("--id", metavar="ID",
                 help='Container id (default, as cnitool: "cnitool-" + 20 hex digits of sha512 of the netns path).'),
]
ArgsOpt = Annotated[
    str | None,
    typer.Option("--args", metavar="K=V;...", envvar="CNI_ARGS", show_envvar=True,
                 help="CNI_ARGS for the plugins (checked as cnitool does: no empty key or value). DEL and CHECK "
                      "default to the ADD's, from the cache."),
]
CapOpt = Annotated[
    str | None,
    typer.Option("--cap-args", metavar="JSON", envvar="CAP_ARGS",
                 help='Capability arguments as a JSON object, e.g. \'{"portMappings": [...]}\'. DEL and CHECK default '
                      "to the ADD's, from the cache."),
]
ConfDirOpt = Annotated[
    str | None,
    typer.Option("--conf-dir", metavar="DIR", envvar="NETCONFPATH", show_default=False,
                 help="Where the conflists are [default: STATE_DIR/net.d with --state-dir or --netns, else "
                      "/etc/cni/net.d]."),
]
CniPathOpt = Annotated[
    str, typer.Option("--cni-path", metavar="DIRS", envvar="CNI_PATH", help="Colon-separated plugin directories.")
]
CacheDirOpt = Annotated[
    str | None,
    typer.Option("--cache-dir", metavar="DIR", envvar="CNI_CACHE_DIR", show_default=False,
                 help="libcni's cache directory, results/ under it [default: STATE_DIR/cni with --state-dir or "
                      "--netns, else /var/lib/cni]."),
]
DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin"


def _setup(ctx: typer.Context, json_mode: bool, network: str, conf_dir: str | None, cni_path: str,
           cache_dir: str | None) -> tuple[State, ConfList, Runtime]:
    """The conflist and a Runtime. Directories not given are cnictl's defaults (host.Paths): under the state
    directory with --state-dir / --netns / CNICTL_STATE_DIR, so a sandboxed run writes nothing elsewhere."""
    from cnictl.cni import conf
    from cnictl.cni.runtime import Runtime
    from cnictl.cni.types import validate_network_name
    from cnictl.host import resolve_paths
    from cnictl.netns import NetnsRef

    st: State = ctx.obj.merge(json_mode=json_mode)
    validate_network_name(network)
    paths = resolve_paths(st.state_dir, NetnsRef.parse(st.netns).key if st.netns else None)
    netconf = conf.load(conf_dir or str(paths.cni_conf_dir), network)
    st.host()  # under --netns HOST: enter it, so the plugins (child processes) run there
    return st, netconf, Runtime(cni_path, cache_dir or str(paths.cni_cache_dir))


def _attachment(netns: str, ifname: str, cid: str | None, args: str | None, cap_args: str | None,
                *, explicit_only: bool = False) -> RuntimeConf:
    from cnictl.cni.runtime import RuntimeConf, default_container_id, netns_path
    from cnictl.cni.types import parse_args_strict, validate_container_id, validate_ifname
    from cnictl.errors import ConfigError

    path = netns_path(netns)
    container_id = validate_container_id(cid) if cid else default_container_id(path)
    validate_ifname(ifname)
    pairs = parse_args_strict(args) if args else None
    caps: dict[str, Any] | None = None
    if cap_args:
        import json

        try:
            caps = json.loads(cap_args)
        except ValueError as e:
            raise ConfigError(f"--cap-args/CAP_ARGS is not JSON: {e}") from None
        if not isinstance(caps, dict):
            raise ConfigError("--cap-args/CAP_ARGS must be a JSON object")
    if not explicit_only:
        pairs, caps = pairs or [], caps or {}
    return RuntimeConf(container_id, path, ifname, pairs, caps)


@app.command("add", epilog="Example: cnictl cni add lab web --conf-dir /etc/cni/net.d --args IgnoreUnknown=1")
def add(ctx: typer.Context, network: NetworkArg, netns: CniNetnsArg, ifname: IfOpt = "eth0", cid: IdOpt = None,
        args: ArgsOpt = None, cap_args: CapOpt = None, conf_dir: ConfDirOpt = None,
        cni_path: CniPathOpt = DEFAULT_CNI_PATH, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """ADD the container to NETWORK: run its plugins in order and cache the result; print the result."""
    st, netconf, runtime = _setup(ctx, json_mode, network, conf_dir, cni_path, cache_dir)
    rt = _attachment(netns, ifname, cid, args, cap_args)
    with changing():  # plugins run one by one: Ctrl-C mid-chain leaves what ran (libcni: the caller DELs)
        result = runtime.add(netconf, rt)
    out = st.out
    if out.json_mode:
        out.json(result)
        return
    _print_result(st, result)


def _print_result(st: State, result: dict[str, Any]) -> None:
    out = st.out
    ifaces = result.get("interfaces") or []
    out.line(f"cniVersion {result.get('cniVersion', '')}")
    if ifaces:
        out.table([dict(i, sandbox=i.get("sandbox") or "(host)") for i in ifaces],
                  [("name", "INTERFACE"), ("mac", "MAC"), ("sandbox", "SANDBOX")])
    ips = result.get("ips") or []
    if ips:
        def where(ip: dict[str, Any]) -> Any:
            idx = ip.get("interface")
            return ifaces[idx]["name"] if isinstance(idx, int) and 0 <= idx < len(ifaces) else idx

        out.table([dict(ip, on=where(ip)) for ip in ips], [("address", "ADDRESS"), ("gateway", "GATEWAY"), ("on", "ON")])
    routes = result.get("routes") or []
    if routes:
        out.table(routes, [("dst", "ROUTE"), ("gw", "VIA")])
    dns = result.get("dns") or {}
    if dns.get("nameservers"):
        out.line("dns " + ", ".join(dns["nameservers"]))


@app.command("del", epilog="Example: cnictl cni del lab web")
def delete(ctx: typer.Context, network: NetworkArg, netns: CniNetnsArg, ifname: IfOpt = "eth0", cid: IdOpt = None,
           args: ArgsOpt = None, cap_args: CapOpt = None, conf_dir: ConfDirOpt = None,
           cni_path: CniPathOpt = DEFAULT_CNI_PATH, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """DEL the container from NETWORK: run its plugins in reverse with the cached result; drop the cache."""
    st, netconf, runtime = _setup(ctx, json_mode, network, conf_dir, cni_path, cache_dir)
    rt = _attachment(netns, ifname, cid, args, cap_args, explicit_only=True)
    with changing():
        runtime.delete(netconf, rt)
    if st.out.json_mode:
        st.out.json({"network": network, "netns": rt.netns, "container_id": rt.container_id, "ifname": rt.ifname})
    else:
        st.out.line(f"deleted {rt.container_id}/{rt.ifname} from {network}")


@app.command("check", epilog="Example: cnictl cni check lab web")
def check(ctx: typer.Context, network: NetworkArg, netns: CniNetnsArg, ifname: IfOpt = "eth0", cid: IdOpt = None,
          args: ArgsOpt = None, cap_args: CapOpt = None, conf_dir: ConfDirOpt = None,
          cni_path: CniPathOpt = DEFAULT_CNI_PATH, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """CHECK the container's attachment to NETWORK (each plugin in order, with the cached result)."""
    st, netconf, runtime = _setup(ctx, json_mode, network, conf_dir, cni_path, cache_dir)
    rt = _attachment(netns, ifname, cid, args, cap_args, explicit_only=True)
    ran = runtime.check(netconf, rt)
    if st.out.json_mode:
        st.out.json({"network": network, "container_id": rt.container_id, "ifname": rt.ifname, "ok": True,
                     "skipped": not ran})
    else:
        st.out.line(f"{network}: {rt.container_id}/{rt.ifname} ok" + ("" if ran else " (disableCheck: not checked)"))


@app.command("gc", epilog="Example: cnictl cni gc lab --valid cnitool-0123456789abcdef0123:eth0")
def gc(
    ctx: typer.Context,
    network: NetworkArg,
    valid: Annotated[
        list[str] | None,
        typer.Option("--valid", metavar="ID:IFNAME",
                     help="An attachment that is still in use (repeatable). Default: every cached attachment of "
                          "NETWORK whose network namespace still exists (cnitool passes none)."),
    ] = None,
    conf_dir: ConfDirOpt = None,
    cni_path: CniPathOpt = DEFAULT_CNI_PATH,
    cache_dir: CacheDirOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """GC NETWORK: DEL every cached attachment not in the valid set, then send GC to each plugin (1.1.0)."""
    import os

    from cnictl.cni.types import validate_container_id, validate_ifname
    from cnictl.errors import ConfigError

    st, netconf, runtime = _setup(ctx, json_mode, network, conf_dir, cni_path, cache_dir)
    keep: list[tuple[str, str]] = []
    if valid:
        for item in valid:
            cid, sep, ifname = item.partition(":")
            if not sep:
                raise ConfigError(f'--valid "{item}" is not ID:IFNAME')
            keep.append((validate_container_id(cid), validate_ifname(ifname)))
    else:
        keep = [(e.container_id, e.ifname) for e in runtime.cache.attachments()
                if e.network == netconf.name and e.netns and os.path.exists(e.netns)]
    with changing():
        deleted = runtime.gc(netconf, keep)
    if st.out.json_mode:
        st.out.json({"network": network, "valid": [{"containerID": c, "ifname": i} for c, i in keep],
                     "deleted": [{"containerID": c, "ifname": i} for c, i in deleted]})
        return
    for c, i in deleted:
        st.out.line(f"deleted stale attachment {c}/{i}")
    st.out.line(f"{network}: garbage collected ({len(deleted)} stale, {len(keep)} valid)")


@app.command("status", epilog="Example: cnictl cni status lab")
def status(ctx: typer.Context, network: NetworkArg, conf_dir: ConfDirOpt = None,
           cni_path: CniPathOpt = DEFAULT_CNI_PATH, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """STATUS: can NETWORK's plugins service an ADD? (not asked below cniVersion 1.1.0)."""
    st, netconf, runtime = _setup(ctx, json_mode, network, conf_dir, cni_path, cache_dir)
    ran = runtime.status(netconf)
    if st.out.json_mode:
        st.out.json({"network": network, "ready": True, "skipped": not ran, "cniVersion": netconf.cni_version})
    else:
        st.out.line(f"{network}: ready" if ran else f"{network}: cniVersion {netconf.cni_version} has no STATUS (assumed ready)")


@app.command("version", epilog="Example: cnictl cni version lab --cni-path /usr/lib/cni")
def version(ctx: typer.Context, network: NetworkArg, conf_dir: ConfDirOpt = None,
            cni_path: CniPathOpt = DEFAULT_CNI_PATH, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """Ask every plugin of NETWORK which spec versions it supports (VERSION); exit 1 if one cannot serve the list's."""
    from cnictl.cni.types import INCOMPATIBLE_VERSION
    from cnictl.errors import CniError

    st, netconf, runtime = _setup(ctx, json_mode, network, conf_dir, cni_path, cache_dir)
    rows = runtime.probe(netconf)
    view = [{"plugin": r.plugin, "path": r.path, "supported": r.supported, "verdict": r.verdict, "ok": r.ok} for r in rows]
    if st.out.json_mode:
        st.out.json({"network": network, "cniVersion": netconf.cni_version, "plugins": view})
    else:
        st.out.line(f"{network}: cniVersion {netconf.cni_version}")
        st.out.table(view, [("plugin", "PLUGIN"), ("path", "PATH"), ("supported", "SUPPORTED"), ("verdict", "VERDICT")])
    bad = [r for r in rows if not r.ok]
    if bad:
        raise CniError(INCOMPATIBLE_VERSION, "[" + " ".join(r.verdict for r in bad) + "]")


@app.command("emit", epilog="Example: cnictl cni emit lab --out /etc/cni/net.d/")
def emit(
    ctx: typer.Context,
    network: NetworkArg,
    out: Annotated[
        str | None,
        typer.Option("--out", metavar="PATH",
                     help="Write the conflist to PATH: a file, or a directory (an existing one, or ending in /) "
                          "that gets DIR/cnictl-NETWORK.conflist."),
    ] = None,
    plugin: Annotated[
        str, typer.Option("--plugin", metavar="FLAVOUR",
                          help="Plugins to use: reference (containernetworking's bridge/macvlan, host-local, "
                               "portmap), reference-tuning (the same plus tuning; CHECK needs plugins 1.3 or "
                               "later) or cnictl (the cnictl plugin).")
    ] = "reference",
    json_mode: JsonOpt = False,
) -> None:
    """Print (or write) a .conflist for a cnictl network, for container runtimes on this host."""
    from cnictl.cni import emit as emit_mod

    st: State = ctx.obj.merge(json_mode=json_mode)
    r = emit_mod.emit(st.host(), network, out, plugin)
    if r["path"] is None:
        st.out.out.write(emit_mod.render(r["conflist"]))
    elif st.out.json_mode:
        st.out.json(r)
    else:
        st.out.line(f"wrote {r['path']}")


@app.command("install", epilog="Example: cnictl cni install --dir /opt/cni/bin")
def install(
    ctx: typer.Context,
    directory: Annotated[str, typer.Option("--dir", metavar="DIR", help="Plugin directory (one of CNI_PATH).")],
    json_mode: JsonOpt = False,
) -> None:
    """Install the `cnictl` CNI plugin into a plugin directory."""
    import importlib

    st: State = ctx.obj.merge(json_mode=json_mode)
    r = importlib.import_module("cnictl.cni.install").install(directory)
    if st.out.json_mode:
        st.out.json(r)
    else:
        st.out.line(f"installed {r['path']}")
