"""`cnictl net`: create, list, inspect and remove networks."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl import drivers
from cnictl.cli import complete
from cnictl.cli.options import FormatOpt, JsonOpt, NetworkNameArg, QuietOpt, State, changes

app = typer.Typer(no_args_is_help=True, help="Create, list, inspect and remove networks.")

CreateNameArg = Annotated[str, typer.Argument(metavar="NAME", help="Name of the new network.", show_default=False)]


@app.command("create", epilog="Example: cnictl net create lab --subnet 10.20.0.0/24\n\n"
             "cnictl net create lan --driver macvlan --parent eth0 --subnet 192.168.1.0/24 --gateway 192.168.1.1 "
             "--ip-range 192.168.1.192/27 --host-access")
@changes(quiet=True)
def create(
    ctx: typer.Context,
    name: CreateNameArg,
    driver: Annotated[
        str, typer.Option("--driver", "-d", metavar="DRIVER", autocompletion=complete.words(*drivers.names()),
                          help=f"Network driver: {drivers.names_text()}.")
    ] = "bridge",
    parent: Annotated[
        str | None,
        typer.Option("--parent", metavar="IFNAME",
                     help="macvlan/ipvlan: the host interface on the LAN (eth0.10: its VLAN 10)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", metavar="MODE",
                     help="macvlan: bridge (default), vepa, private, passthru; ipvlan: l2 (default), l3, l3s."),
    ] = None,
    vlan: Annotated[
        int | None, typer.Option("--vlan", metavar="ID", help="macvlan/ipvlan: use the 802.1Q sub-interface PARENT.ID.")
    ] = None,
    host_access: Annotated[
        bool, typer.Option("--host-access", help="macvlan/ipvlan: let this host reach its containers (a shim link).")
    ] = False,
    subnet: Annotated[
        list[str] | None,
        typer.Option("--subnet", metavar="CIDR",
                     help="Subnet; give two for dual stack (default: a free /24 from 10.89.0.0/16)."),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option("--gateway", metavar="IP", help="Gateway address (default: first address; macvlan: the LAN's router)."),
    ] = None,
    ip_range: Annotated[
        str | None, typer.Option("--ip-range", metavar="CIDR", help="Allocate container addresses from this CIDR only.")
    ] = None,
    bridge: Annotated[
        str | None, typer.Option("--bridge", metavar="IFNAME", help="Bridge interface name (default: br-NAME).")
    ] = None,
    mtu: Annotated[int | None, typer.Option("--mtu", metavar="N", help="MTU of the bridge and the veth pairs.")] = None,
    internal: Annotated[bool, typer.Option("--internal", help="No route out: traffic stays on the bridge.")] = False,
    no_masquerade: Annotated[bool, typer.Option("--no-masquerade", help="Do not masquerade traffic leaving the host.")] = False,
    no_isolate: Annotated[
        bool, typer.Option("--no-isolate", help="Let this network talk to other networks created with --no-isolate.")
    ] = False,
    icc: Annotated[
        bool, typer.Option("--icc/--no-icc", show_default=False,
                           help="Allow traffic between containers of this network (default: on).")
    ] = True,
    firewall: Annotated[
        str | None,
        typer.Option("--firewall", metavar="BACKEND", autocompletion=complete.words("nftables", "iptables", "none"),
                     help="Firewall backend of this network: nftables, iptables or none (default: the global --firewall)."),
    ] = None,
    cni_conf_dir: Annotated[
        str | None,
        typer.Option("--cni-conf-dir", metavar="DIR",
                     help="Also write the network's CNI conflist into DIR (removed with the network)."),
    ] = None,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Succeed if a network of this name exists.")] = False,
    label: Annotated[
        list[str] | None, typer.Option("--label", metavar="KEY=VALUE", help="Metadata to record (repeatable).")
    ] = None,
) -> None:
    """Create a network: a bridge with the gateway address, forwarding, NAT and isolation rules.

    With --driver macvlan (or ipvlan) the containers join the LAN of --parent directly instead: each gets
    a link of the parent with an address of --subnet and a default route via --gateway, the LAN's router.
    No NAT and no published ports; the host reaches them only with --host-access.
    """
    from cnictl.model import parse_labels
    from cnictl.ops import networks
    from cnictl.render import views

    st: State = ctx.obj
    # the driver options (each driver declares its own; the one asked for refuses the others' when set)
    options = {"bridge": bridge, "masquerade": not no_masquerade, "isolate": not no_isolate, "icc": icc,
               "parent": parent, "mode": mode, "vlan": vlan, "host_access": host_access}
    req = networks.NetworkRequest(name=name, driver=driver, subnets=list(subnet or []), gateway=gateway,
                                  ip_range=ip_range, mtu=mtu, internal=internal, firewall=firewall,
                                  labels=parse_labels(list(label or [])), cni_conf_dir=cni_conf_dir, options=options)
    host = st.host(changes="net create")
    outcome = networks.create_network(host, req, st.run_options(), exist_ok=exist_ok)
    st.finish(outcome, views.network_created(outcome.result))


@app.command("ls", epilog="Example: cnictl net ls --json")
def ls(ctx: typer.Context, json_mode: JsonOpt = False, quiet: QuietOpt = False, fmt: FormatOpt = "auto") -> None:
    """List networks."""
    from cnictl.ops import networks
    from cnictl.render import views

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    views.networks(st.out, networks.list_networks(st.host()))


@app.command("inspect", epilog="Example: cnictl net inspect lab")
def inspect(ctx: typer.Context, name: NetworkNameArg, json_mode: JsonOpt = False, quiet: QuietOpt = False,
            fmt: FormatOpt = "auto") -> None:
    """Show one network with its attachments (-q: its name only)."""
    from cnictl.ops import networks
    from cnictl.render import views

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    views.network(st.out, networks.inspect_network(st.host(), name))


@app.command("rm", epilog="Example: cnictl net rm lab --force")
@changes()
def rm(
    ctx: typer.Context,
    name: NetworkNameArg,
    force: Annotated[bool, typer.Option("--force", "-f", help="Detach every attachment first.")] = False,
) -> None:
    """Remove a network: its rules, its bridge (if cnictl made it) and its IPAM directory."""
    from cnictl.ops import networks
    from cnictl.render import views

    st: State = ctx.obj
    host = st.host(changes="net rm")
    outcome = networks.delete_network(host, name, st.run_options(), force=force)
    st.finish(outcome, views.network_removed(name))
