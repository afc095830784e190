"""Typed requests and results (cnictl.ops.requests) and their human layout (cnictl.render.views): the JSON of
a typed result is exactly the dict it replaced (keys and order), and the views read typed results and
plain dicts alike."""

from __future__ import annotations

import io
import json

import pytest

from cnictl.ops.requests import (
    AllocationView,
    AttachRequest,
    ForwardView,
    IpamView,
    NamespaceView,
    PortView,
    SubnetUsage,
    to_json,
)
from cnictl.record import FrozenInstanceError
from cnictl.render import views
from cnictl.render.output import Output


def capture(**kw: object) -> Output:
    out = Output(**kw)  # type: ignore[arg-type]
    out.out = io.StringIO()
    return out


def test_attach_request_defaults_copy_and_immutability() -> None:
    ports = ("8080:80",)
    req = AttachRequest("lab", "web", ports=ports)  # type: ignore[arg-type]
    assert (req.ifname, req.ip, req.mac, req.container_id, req.hairpin) == ("eth0", None, None, None, None)
    assert req.ports == ["8080:80"] and isinstance(req.ports, list)
    other = req.with_(ifname="eth1", ip="10.20.0.9")
    assert (other.ifname, other.ip, other.network, other.ports) == ("eth1", "10.20.0.9", "lab", ["8080:80"])
    assert req.ifname == "eth0"
    with pytest.raises(FrozenInstanceError):
        req.ifname = "eth2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        AttachRequest("lab", "web", bandwidth="1mbit")  # type: ignore[call-arg]


PORT = {"network": "lab", "netns": "web", "ifname": "eth0", "container_ip": "10.20.0.2", "host_ip": "0.0.0.0",
        "host_ports": "8080", "container_ports": "80", "proto": "tcp", "spec": "8080:80/tcp"}


def test_a_typed_result_is_its_old_dict() -> None:
    row = PortView(**PORT)
    assert json.dumps(row.to_json()) == json.dumps(PORT)  # same keys, same order
    assert row["netns"] == "web" and row.get("nope", 1) == 1 and "spec" in row and dict(row) == PORT
    fwd = ForwardView("all", {"ipv4": True})
    assert fwd.to_json() == {"interface": "all", "ipv4": True}  # a family not asked is not there
    view = IpamView("lab", "/d", [SubnetUsage("10.20.0.0/24", "10.20.0.1", "10.20.0.2-10.20.0.254", 253, 1, 252)],
                    [AllocationView("10.20.0.2", "web", "eth0", "web")])
    assert list(view.to_json()) == ["network", "directory", "subnets", "allocations"]
    assert view.to_json()["subnets"][0]["free"] == 252
    assert to_json([NamespaceView("a", "/run/netns/a"), {"x": [view]}]) == [
        {"name": "a", "path": "/run/netns/a"}, {"x": [view.to_json()]}]


@pytest.mark.parametrize("typed", [True, False])
def test_views_take_typed_results_and_dicts(typed: bool) -> None:
    rows = [PortView(**PORT) if typed else dict(PORT)]
    out = capture(json_mode=True)
    views.ports(out, rows)
    assert json.loads(out.out.getvalue()) == [PORT]
    out = capture(quiet=True)
    views.ports(out, rows)
    assert out.out.getvalue() == "8080:80/tcp\n"
    out = capture(fmt="tsv")
    views.ports(out, rows)
    assert out.out.getvalue().splitlines()[1].split("\t") == ["lab", "web", "0.0.0.0", "8080", "10.20.0.2", "80", "tcp"]


def test_summary_lines() -> None:
    r = {"netns": "web", "ifname": "eth0", "addresses": ["10.20.0.2/24"], "host_ifname": "", "mac": ""}
    assert views.attached(r, "lan") == "attached web to lan: eth0 10.20.0.2/24 (mac of the parent)"
    assert views.linked({"end1": "a:eth1", "addresses1": ["10.0.0.1/30"], "end2": "b:eth1", "addresses2": []}) == \
        "linked a:eth1 (10.0.0.1/30) <-> b:eth1"
    assert views.forward_set({"changed": False, "forwarding": ["ipv4"]}, True) == "forwarding enabled: ipv4 (already so)"


def test_forward_status_quiet_lines() -> None:
    out = capture(quiet=True)
    views.forward_status(out, [ForwardView("all", {"ipv4": True, "ipv6": None})], ["ipv4", "ipv6"])
    assert out.out.getvalue() == "all 1 -\n"


def test_attach_result_is_the_attachment_record() -> None:
    from cnictl.model import Attachment
    from cnictl.ops.requests import AttachResult

    att = Attachment("lab", "web", "web", "web", "eth0", "veth1", "02:00:00:00:00:01", ["10.20.0.2/24"], ["10.20.0.1"])
    r = AttachResult(att)
    assert r.to_json() == att.to_dict() and list(r.to_json()) == list(att.to_dict())
    assert r["addresses"] == ["10.20.0.2/24"] and r.get("host_ifname") == "veth1" and "mac" in r
    assert to_json({"result": r}) == {"result": att.to_dict()}


def test_attach_call_takes_the_request_or_the_keyword_form() -> None:
    from cnictl.ops.requests import attach_call

    opts = object()
    req = AttachRequest("lab", "web", ifname="eth1", ports=["8080:80"])
    assert attach_call(req, (opts,), {}) == (req, opts)
    assert attach_call(req, (), {"opts": opts}) == (req, opts)
    assert attach_call("lab", ("web", opts), {"ifname": "eth1", "ports": ("8080:80",)}) == (req, opts)
    assert attach_call("lab", (), {"netns": "web", "ifname": "eth1", "ports": ["8080:80"]}) == (req, None)
    with pytest.raises(TypeError):
        attach_call(req, (), {"ifname": "eth2"})  # settings belong in the request
    with pytest.raises(TypeError):
        attach_call(req, (opts, opts), {})
