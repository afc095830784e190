"""`cnictl-cni`: cnictl as a CNI plugin (type `cnictl`) that container runtimes call.

The plugin drives the same core as the CLI, in the namespace the runtime runs it in (that namespace is
the "host"): ADD = `ops.attach`, DEL = `ops.detach_container`, CHECK = `ops.check_attachment`, GC =
`ops.gc_network`, STATUS = can an ADD be served, VERSION. Configuration:

    {"cniVersion": "1.0.0", "name": "lab", "type": "cnictl"}                   # network "lab", made by cnictl
    {"cniVersion": "1.0.0", "name": "pods", "type": "cnictl", "network": "lab"}  # network named explicitly
    {"cniVersion": "1.1.0", "name": "lab", "type": "cnictl",                      # created on the first ADD
     "subnet": "10.20.0.0/24", "bridge": "br-lab", "stateDir": "/var/lib/cnictl"}

Validation follows the reference skel, in its order: environment, stdin, JSON, network name, version,
then the verb. Every failure prints exactly one error object on stdout and exits 1; stderr is for logs.
`run(env, stdin)` is the whole plugin as a function that never raises (the fuzz test calls it).

This module is the entry and the verbs; `plugin_conf` reads and validates the request (netconf, CNI_*
environment, CNI_ARGS, runtimeConfig), `plugin_result` builds what is printed (result, VERSION, error).

    >>> code, out = run({"CNI_COMMAND": "VERSION"}, b"")
    >>> code, json.loads(out)["supportedVersions"][-1]
    (0, '1.1.0')
    >>> run({"CNI_COMMAND": "BOGUS"}, b"{}")
    (1, b'{"code": 4, "msg": "unknown CNI_COMMAND: BOGUS"}')
"""

from __future__ import annotations

import os
import sys

from cnictl import jsonlite as json  # json's loads/dumps without importing json (start-up time)
from cnictl.cni import plugin_conf as C
from cnictl.cni import plugin_result as R
from cnictl.cni import types as T
from cnictl.cni.plugin_conf import COMMANDS, Conf
from cnictl.errors import CnictlError, CniError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

    from cnictl.host import Host
    from cnictl.ipam.steps import ReserveIP
    from cnictl.model import Network

__all__ = ["CHECK_FAILED", "COMMANDS", "GC_INCOMPLETE", "Conf", "main", "run"]

CHECK_FAILED = 101
"""Plugin-specific code: CHECK found the attachment different from prevResult (or missing)."""
GC_INCOMPLETE = 102
"""Plugin-specific code: GC removed what it could, and some removals failed."""

_conf = C.parse  # the validated request (tests call it by this name)
_result = R.result  # the ADD result


# ---------------------------------------------------------------------------------------
# the host, the namespace, the network
# ---------------------------------------------------------------------------------------
def _host(conf: Conf) -> Host:
    from cnictl.host import DEFAULT_STATE_DIR, Host, Paths

    firewall = conf.options.get("firewall") or conf.env.get("CNICTL_FIREWALL") or "nftables"
    host = Host(netns=None, state_dir=conf.state_dir or DEFAULT_STATE_DIR, firewall=firewall)
    if not conf.state_dir:  # the machine's places, whatever this process's own environment says
        host.paths = Paths.machine()
    return host


def _check_netns(conf: Conf) -> None:
    """CNI_NETNS must be a network namespace (code 3 when it is not there) other than the plugin's own (code 8)."""
    import stat

    from cnictl.errors import NetnsNotFoundError
    from cnictl.netns import NetnsRef, same_netns

    try:
        ref = NetnsRef.parse(conf.netns)
        if not stat.S_ISREG(os.stat(ref.path).st_mode):  # nsfs files are regular; never open a FIFO or a device
            raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", f"{conf.netns} is not a network namespace")
        fd = ref.open()
    except FileNotFoundError:
        raise CniError(T.UNKNOWN_CONTAINER, "network namespace not found", conf.netns) from None
    except OSError as e:
        raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", f"{conf.netns}: {e.strerror}") from None
    except NetnsNotFoundError as e:
        raise CniError(T.UNKNOWN_CONTAINER, "network namespace not found", e.message) from None
    except CnictlError as e:
        raise CniError(T.INVALID_ENV, "invalid CNI_NETNS", e.message) from None
    try:
        own = same_netns(fd)
    finally:
        os.close(fd)
    if own and conf.env.get("CNI_NETNS_OVERRIDE", "").lower() not in ("1", "true"):
        raise CniError(T.INVALID_NETNS, "the netns is the plugin's own namespace",
                       f"{conf.netns}: refusing to configure the host (set CNI_NETNS_OVERRIDE=1 to allow)")


_COMPARED = ("driver", "mtu", "internal", "firewall")  # and each driver's compared options (their Option)
_COMMON_KEYS = frozenset(attr for attr, _ in C.COMMON_OPTIONS.values())


def _mismatches(net: Network, opts: dict[str, Any]) -> list[str]:
    """Inline options that differ from the existing network (an inline config must describe it exactly)."""
    import ipaddress

    from cnictl import drivers
    from cnictl.model import NetworkRequest

    out: list[str] = []
    for attr in _COMPARED:
        if attr in opts and opts[attr] != getattr(net, attr):
            out.append(f"{attr}: {getattr(net, attr)!r} here, {opts[attr]!r} in the config")
    # a driver's options, if any are given (the common ones alone need no driver declarations)
    declared = [o for o in drivers.request_options() if o.name in opts] if any(
        k not in _COMMON_KEYS for k in opts) else []
    if declared:
        asked = NetworkRequest(net.name, net.driver, internal=bool(opts.get("internal", net.internal)),
                               options={o.name: opts[o.name] for o in declared})
        driver = drivers.get_driver(net.driver)
        for o in declared:
            if o.compared:
                same, have, want = driver.compare(net, asked, o.name)
                if not same:
                    out.append(f"{o.cni_key or o.name}: {have!r} here, {want!r} in the config")
    if "subnets" in opts:
        try:
            want = {str(ipaddress.ip_network(s)) for s in opts["subnets"]}
        except ValueError as e:
            return [f"subnet: {e}"]
        have = {s.subnet for s in net.subnets}
        if want != have:
            out.append(f"subnet: {sorted(have)} here, {sorted(want)} in the config")
    if opts.get("gateway") and opts["gateway"] not in {s.gateway for s in net.subnets}:
        out.append(f"gateway: {[s.gateway for s in net.subnets]} here, {opts['gateway']!r} in the config")
    return out


def _network(host: Host, conf: Conf, *, create: bool) -> Network:
    """The cnictl network of this config; with inline options it is created when missing and must match."""
    from cnictl import ops
    from cnictl.errors import ConflictError
    from cnictl.store import Store

    store = Store(host.paths)
    req = C.request(conf)
    net = store.find_network(conf.network)
    if net is None:
        if req is None:
            raise CniError(T.INVALID_CONFIG, f'network "{conf.network}" not found',
                           "create it with `cnictl net create`, or give its options (subnet, ...) in the configuration")
        if not create:
            raise CniError(T.INVALID_CONFIG, f'network "{conf.network}" does not exist yet')
        try:
            ops.create_network(host, req, exist_ok=True)
        except ConflictError:
            if store.find_network(conf.network) is None:  # not a lost race with another ADD
                raise
        net = store.get_network(conf.network)
    if req is not None:
        diff = _mismatches(net, conf.options)
        if diff:
            raise CniError(T.INVALID_CONFIG, f'network "{conf.network}" exists with other settings', "; ".join(diff))
    return net


# ---------------------------------------------------------------------------------------
# verbs
# ---------------------------------------------------------------------------------------
def _add(conf: Conf) -> dict[str, Any]:
    from cnictl import ops
    from cnictl.errors import ConflictError
    from cnictl.ipam.allocator import parse_ip
    from cnictl.store import Store

    args = C.cni_args(conf)
    requested = C.requested_ips(conf, args)
    mac = C.requested_mac(conf, args)
    ports = C.port_specs(conf)
    prev = C.prev_result(conf)
    if conf.ipam_type and not conf.env.get("CNI_PATH"):
        raise CniError(T.INVALID_ENV, "required env variables [CNI_PATH] missing", f"to find IPAM plugin {conf.ipam_type}")
    _check_netns(conf)
    from cnictl.netns import NetnsRef

    ref = NetnsRef.parse(conf.netns)
    with _host(conf) as host:
        net = _network(host, conf, create=True)
        for att in Store(host.paths).attachments(conf.network):
            if att.container_id == conf.container_id and att.ifname == conf.ifname:
                raise ConflictError(f"{conf.container_id}/{conf.ifname} is already attached to {conf.network}",
                                    hint="duplicate allocation is not allowed: DEL it first")
            if att.netns_key == ref.key and att.ifname == conf.ifname:
                raise ConflictError(f'interface "{conf.ifname}" already exists in {conf.netns}')
        steps: list[ReserveIP] = []

        def hook(reserve: ReserveIP) -> ReserveIP:
            if conf.ipam_type:
                from cnictl.cni.delegate import DelegatedIPAM

                reserve = DelegatedIPAM(reserve, conf.ipam_type, conf.env, conf.stdin)
            else:
                reserve.requested = [parse_ip(t) for t in requested]
            steps.append(reserve)
            return reserve

        from cnictl.ops.requests import AttachRequest

        req = AttachRequest(conf.network, conf.netns, ifname=conf.ifname, mac=mac, container_id=conf.container_id,
                            ports=ports, hairpin=conf.hairpin)  # the addresses asked for go through the hook
        out = ops.attach(host, req, reserve_hook=hook)
        return R.result(conf, net, out, steps[0] if steps else None, prev)


def _delegate(conf: Conf, command: str) -> None:
    if conf.ipam_type:
        from cnictl.cni.delegate import execute

        if not conf.env.get("CNI_PATH"):
            raise CniError(T.INVALID_ENV, "required env variables [CNI_PATH] missing", f"to find IPAM plugin {conf.ipam_type}")
        execute(conf.ipam_type, command, conf.env, conf.stdin)


def _del(conf: Conf) -> None:
    from cnictl import ops

    netns = conf.netns
    if netns and netns != "/" and "\0" not in netns:
        from cnictl.netns import NetnsRef

        try:
            NetnsRef.parse(netns)
        except CnictlError:
            netns = ""
    else:
        netns = ""
    try:
        _delegate(conf, "DEL")  # first, as the reference bridge does; the own teardown runs even if it fails
    finally:
        with _host(conf) as host:
            ops.detach_container(host, conf.network, conf.container_id, conf.ifname, netns or None)


def _check(conf: Conf) -> None:
    from cnictl import ops

    prev = C.prev_result(conf)
    if not prev:
        raise CniError(T.INVALID_CONFIG, "required prevResult missing")
    C.cni_args(conf)
    _check_netns(conf)
    with _host(conf) as host:
        _network(host, conf, create=False)
        att = ops.find_attachment(host, conf.network, conf.container_id, conf.ifname)
        if att is None:
            raise CniError(CHECK_FAILED, f"{conf.container_id}/{conf.ifname} is not attached to {conf.network}")
        interfaces = prev.get("interfaces", [])
        ours = {i for i, iface in enumerate(interfaces)
                if isinstance(iface, dict) and iface.get("name") == conf.ifname and iface.get("sandbox") == conf.netns}
        if not ours:
            raise CniError(CHECK_FAILED, f"prevResult lists no interface {conf.ifname} in {conf.netns}")
        addresses = R.extra_addresses(att.addresses, [ip["address"] for ip in prev.get("ips", [])
                                                     if ip.get("interface") in ours])
        routes = list(dict.fromkeys((str(r["dst"]), str(r["gw"])) for r in prev.get("routes", [])
                      if isinstance(r, dict) and r.get("gw") in att.gateways and r.get("dst") in ("0.0.0.0/0", "::/0")))
        problems = ops.check_attachment(host, conf.network, att, conf.netns, addresses, routes,
                                        own_ipam=not conf.ipam_type)
    if problems:
        raise CniError(CHECK_FAILED, "CHECK failed", "; ".join(dict.fromkeys(problems)))  # each problem once
    _delegate(conf, "CHECK")


def _gc(conf: Conf) -> None:
    from cnictl import ops

    valid = C.valid_attachments(conf)
    errors = []
    if valid is not None:
        with _host(conf) as host:
            try:
                ops.gc_network(host, conf.network, valid)
            except CnictlError as e:
                errors.append(e.one_line())
    try:
        _delegate(conf, "GC")
    except CniError as e:
        errors.append(f"IPAM plugin {conf.ipam_type}: {e.one_line()}")
    if errors:
        raise CniError(GC_INCOMPLETE, "GC was incomplete", "; ".join(errors))


def _kind_available(kind: str) -> bool:
    if os.path.isdir(f"/sys/module/{kind}"):
        return True
    release = os.uname().release
    for name in ("modules.builtin", "modules.dep"):
        try:
            with open(f"/lib/modules/{release}/{name}") as f:
                if f"/{kind}.ko" in f.read():
                    return True
        except OSError:
            continue
    return False


def _status(conf: Conf) -> None:
    from cnictl import ops
    from cnictl.drivers import get_driver
    from cnictl.store import Store

    with _host(conf) as host:
        net = Store(host.paths).find_network(conf.network)
        if net is None:
            req = C.request(conf)
            if req is None:
                raise CniError(T.PLUGIN_NOT_AVAILABLE, f'network "{conf.network}" not found',
                               "create it with `cnictl net create`, or give its options in the configuration")
            try:
                ops.create_network(host, req, ops.RunOptions(dry_run=True))
            except CnictlError as e:
                raise CniError(T.PLUGIN_NOT_AVAILABLE, f'network "{conf.network}" cannot be created', e.one_line()) from None
            driver = get_driver(req.driver)
            link = None  # what must exist beforehand (a parent, an existing --bridge) the dry run has found
        else:
            if _mismatches(net, conf.options):
                raise CniError(T.PLUGIN_NOT_AVAILABLE, f'network "{conf.network}" exists with other settings',
                               "; ".join(_mismatches(net, conf.options)))
            driver = get_driver(net.driver)
            link = driver.required_link(net)
        kind = driver.kind  # the kernel link kind of the containers' links
        if link and not ops.link_exists(link):
            raise CniError(T.PLUGIN_NOT_AVAILABLE, f"interface {link} of network {conf.network} is missing")
        if not _kind_available(kind):
            raise CniError(T.PLUGIN_NOT_AVAILABLE, f"this kernel has no {kind} links", f"CONFIG_{kind.upper()} is not available")
    _delegate(conf, "STATUS")


# ---------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------
def run(env: Mapping[str, str], stdin: bytes, stderr: TextIO | None = None) -> tuple[int, bytes]:
    """The plugin as a function: (exit status, stdout bytes). Never raises."""
    version: str | None = None
    try:
        cmd = C.parse_env(env)
        if cmd == "VERSION":
            return 0, json.dumps(R.version_reply(stdin)).encode()
        header = C.header(cmd, stdin)
        version = header[2]  # from here on, every error object carries the request's cniVersion
        conf = C.parse(cmd, env, stdin, header)
        result = {"ADD": _add, "DEL": _del, "CHECK": _check, "GC": _gc, "STATUS": _status}[cmd](conf)
        return 0, (json.dumps(result).encode() if result is not None else b"")
    except BaseException as e:  # noqa: BLE001 - every failure becomes one error object
        if stderr is not None and not isinstance(e, CnictlError):
            import traceback

            traceback.print_exception(e, file=stderr)
        try:
            return 1, json.dumps(R.error_object(e, version)).encode()
        except Exception:  # noqa: BLE001
            return 1, b'{"code": 999, "msg": "internal error"}'


def main() -> None:
    """`cnictl-cni`: read stdin and the CNI_* environment, print one result or error object, exit 0 or 1."""
    import gc

    gc.disable()  # one call per process: the cyclic collector would only cost time over the imports that follow
    from cnictl.cni.environ import caller_environ

    env = caller_environ()  # what the runtime passed: a delegated IPAM plugin gets it unchanged
    try:
        stdin = sys.stdin.buffer.read() if sys.stdin is not None else b""
    except OSError as e:
        if env.get("CNI_COMMAND") != "VERSION":
            sys.stdout.write(json.dumps({"code": T.IO_FAILURE, "msg": "error reading from stdin", "details": str(e)}))
            sys.stdout.flush()
            sys.exit(1)
        stdin = b""
    code, out = run(env, stdin, sys.stderr if env.get("CNICTL_DEBUG") else None)
    if out:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()  # a failure raises here, as before: a traceback and exit status 1
    _exit(code)


def _exit(code: int) -> None:
    """End the process without the interpreter's finalization: tearing down the ~80 modules a call imported
    costs ~4 ms, on every ADD and DEL. Nothing is left pending: stdout was flushed, records are written with
    os.write and renamed, and the locks go with the descriptors the kernel closes."""
    try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed by the runtime: nothing more to say there
        pass
    journal = sys.modules.get("cnictl.journal")  # (loaded only if a plan ran)
    if journal is not None:
        journal.close_slots()  # the empty journal slot goes (atexit does not run on os._exit)
    os._exit(code)


if __name__ == "__main__":
    main()
