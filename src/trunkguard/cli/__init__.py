"""The `trunkguard` command. Exit codes: 0 success, 1 a failed check, 2 usage or config error."""

from __future__ import annotations

import typer
import typer.core

from trunkguard import __version__
from trunkguard.cli import (
    bench_cmd,
    checks_cmd,
    config_cmd,
    cycle_cmd,
    demo_cmd,
    flows_cmd,
    lab_cmd,
    ops_cmd,
    probe_cmd,
    run_cmd,
    simulate_cmd,
)

_display_type_rich = typer.core.TyperOption.display_type_rich


def _no_flag_placeholder(self: typer.core.TyperOption, ctx: typer.Context) -> str | None:
    """Typer 0.29's rich help prints `<bool>` after every flag as if it took a value: a flag has none."""
    return None if self.is_flag else _display_type_rich(self, ctx)


typer.core.TyperOption.display_type_rich = _no_flag_placeholder  # type: ignore[method-assign,assignment]

app = typer.Typer(
    name="trunkguard", no_args_is_help=True, add_completion=False,
    help="Watch SIP carriers and move inbound routing to the secondary carrier when the primary fails.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(lab_cmd.app, name="lab")
app.add_typer(flows_cmd.app, name="flows")
app.command("probe")(probe_cmd.probe)
app.command("demo")(demo_cmd.demo)
app.command("simulate")(simulate_cmd.simulate)
app.command("replay")(simulate_cmd.replay)
app.command("media")(checks_cmd.media)
app.command("sweep")(checks_cmd.sweep_cmd)
app.command("certs")(checks_cmd.certs)
app.command("parity")(checks_cmd.parity)
app.command("run")(run_cmd.run)
app.command("agent")(run_cmd.agent)
app.command("cycle")(cycle_cmd.cycle)
for _name in ("status", "history", "failover", "failback", "pause", "resume", "cancel", "ack", "maintenance"):
    app.command(_name)(getattr(ops_cmd, _name))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trunkguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """trunkguard: carrier failover for contact centers."""


def main() -> None:
    app()
