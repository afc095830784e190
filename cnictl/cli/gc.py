"""`cnictl gc`: finish interrupted changes from their journals and remove leftovers cnictl owns."""

from __future__ import annotations

import typer

from cnictl.cli.options import State, changes

EPILOG = "Example: cnictl gc --dry-run"


@changes(explain=True)
def gc(ctx: typer.Context) -> None:
    """Finish interrupted changes and remove leftovers that cnictl's records prove are its own.

    First every plan journal a dead process left (a command killed with kill -9, an OOM kill, a power
    cut) is finished: an interrupted create is undone, an interrupted removal completed; a torn
    journal is undone as far as its readable part names. Then rules and set elements of cnictl's own
    firewall table for networks with no record, IPAM reservations in cnictl's own IPAM root whose
    owner is provably gone, and host port claims with no attachment are removed. What doctor reports
    but cnictl has no record of making (a veth or bridge that only looks like cnictl's, a reservation
    in the shared /var/lib/cni/networks) is kept and listed with the command that removes it.

    --dry-run prints what would be undone and the commands that would run, and changes nothing.
    --json prints {"recovered": [...], "removed": [...], "kept": [...], "dry_run": ...}. Exit code 0
    when everything was finished; 5 when an interrupted change could not be finished.
    """
    from cnictl.ops.garbage import gc as run_gc

    st: State = ctx.obj
    host = st.host(changes="gc")
    outcome = run_gc(host, st.run_options())
    result, out = outcome.result, st.out
    if out.json_mode:
        from cnictl.ops.requests import to_json

        data = to_json(result)
        if st.dry_run:
            data["commands"] = outcome.plan.explain(host)
        out.json(data)
        return
    for rec in result["recovered"]:
        if st.dry_run:
            out.line(f"# {rec['action']} the interrupted \"{rec['command']}\" (pid {rec['pid']}, {rec['started']}):")
            for s in rec["steps"]:
                out.line(f"#   {s}")
    for n in outcome.notices if not st.dry_run else []:
        out.notice(n)
    if st.dry_run:
        for ln in outcome.plan.explain(host):
            out.line(ln)
    for k in result["kept"]:
        out.prose(f"kept {k['check']}: {k['detail']}", *([f"remove it with: {k['hint']}"] if k.get("hint") else []))
    removed = len(result["removed"])
    finished = len(result["recovered"])
    verb = "would remove" if st.dry_run else "removed"
    out.line(f"gc: {finished} interrupted change(s) {'to finish' if st.dry_run else 'finished'}, {verb} "
             f"{removed} leftover(s), kept {len(result['kept'])}")
