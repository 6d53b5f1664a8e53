"""The `trunkguard` command. Exit codes: 0 success, 1 a failed check, 2 usage or config error (a few
commands add their own: `status` 3 for the stored view only, `cycle` 10-12).

Start-up is kept short (`--version`, `--help`, `config check` and `probe` in well under a second;
bench/startup.py measures it): the command modules import their heavy libraries (SQLAlchemy,
Alembic, httpx, the daemon) inside the commands that use them, never at module level.
"""

from __future__ import annotations

import os
from typing import Literal

import typer

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
from trunkguard.cli.common import examples

CHECK, OPERATE, RUN, REHEARSE, SETUP = ("Check the carriers", "Operate the running daemon", "Run",
                                       "Rehearse and replay", "Configure and set up")

app = typer.Typer(
    name="trunkguard", no_args_is_help=True,
    help="Watch SIP carriers and move inbound routing to the secondary carrier when the primary fails.",
    epilog=examples("trunkguard config check trunkguard.yaml", "trunkguard probe sip:sbc1.carrier-a.example:5060",
                    "trunkguard run --config trunkguard.yaml", "trunkguard status --config trunkguard.yaml",
                    "source <(trunkguard completion bash)"),
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config", rich_help_panel=SETUP)
app.add_typer(flows_cmd.app, name="flows", rich_help_panel=SETUP)
app.add_typer(bench_cmd.app, name="bench", rich_help_panel=CHECK)
app.add_typer(lab_cmd.app, name="lab", rich_help_panel=REHEARSE)
app.command("probe", rich_help_panel=CHECK, epilog=examples(
    'trunkguard probe "sip:127.0.0.1:5070;transport=udp" -c 5 -i 200ms',
    "trunkguard probe sips:sbc1.carrier-a.example --ca-file carrier-a-ca.pem --targets all",
    "trunkguard probe sip:10.0.0.7 --alive-codes 200-299,405 --json"))(probe_cmd.probe)
app.command("media", rich_help_panel=CHECK, epilog=examples(
    'trunkguard media "sip:127.0.0.1:5071" --number 15550001 --duration 1s'))(checks_cmd.media)
app.command("sweep", rich_help_panel=CHECK, epilog=examples(
    "trunkguard sweep --config trunkguard.yaml", "trunkguard sweep --carrier primary --csv sweep.csv"))(
    checks_cmd.sweep_cmd)
app.command("certs", rich_help_panel=CHECK, epilog=examples("trunkguard certs --config trunkguard.yaml --json"))(
    checks_cmd.certs)
app.command("parity", rich_help_panel=CHECK, epilog=examples("trunkguard parity --config trunkguard.yaml"))(
    checks_cmd.parity)
app.command("run", rich_help_panel=RUN, epilog=examples(
    "trunkguard run --config /etc/trunkguard/trunkguard.yaml",
    "trunkguard run --name site-a-1 --listen 127.0.0.1:8081 --log-format json"))(run_cmd.run)
app.command("agent", rich_help_panel=RUN, epilog=examples("trunkguard agent --config site-c.yaml --name site-c"))(
    run_cmd.agent)
app.command("cycle", rich_help_panel=RUN, epilog=examples("trunkguard cycle --config trunkguard.yaml --json",
                                                          "trunkguard cycle --deadline 50s"))(cycle_cmd.cycle)
OPERATE_EXAMPLES = {
    "status": ["trunkguard status", "trunkguard status --json | jq .active",
               "trunkguard status --group eu     # routing groups: that group's pair and carriers"],
    "history": ["trunkguard history -n 20", "trunkguard history --group eu --since 2h"],
    "failover": ['trunkguard failover --reason "carrier A ticket 4411" --wait 60s',
                 'trunkguard failover --group eu --reason "eu-x ticket 4411"     # with several routing groups'],
    "failback": ['trunkguard failback --reason "carrier A confirmed fixed" --wait 10m',
                 'trunkguard failback --queue --reason "..."     # no daemon: the next cycle carries it out'],
    "maintenance": ['trunkguard maintenance primary-2 --for 2h --reason "SBC upgrade"',
                    'trunkguard maintenance primary-2 --end --reason "done"'],
    "pause": ['trunkguard pause --reason "platform change window"'],
    "resume": ['trunkguard resume --reason "window over"'],
    "cancel": ['trunkguard cancel --reason "calls are still fine"'],
    "ack": ['trunkguard ack --reason "on it"'],
}
for _name, _lines in OPERATE_EXAMPLES.items():
    app.command(_name, rich_help_panel=OPERATE, epilog=examples(*_lines))(getattr(ops_cmd, _name))
app.command("demo", rich_help_panel=REHEARSE, epilog=examples("trunkguard demo", "trunkguard demo --profile guide",
                                                              "trunkguard demo --json"))(demo_cmd.demo)
app.command("simulate", rich_help_panel=REHEARSE, epilog=examples(
    "trunkguard simulate --config examples/single-trunk.yaml "
    "--scenario examples/scenarios/outage-and-approval.yaml"))(simulate_cmd.simulate)
app.command("replay", rich_help_panel=REHEARSE, epilog=examples(
    "trunkguard replay --config stricter.yaml --since 12h", "trunkguard replay --config trunkguard.yaml "
    "--export night.jsonl"))(simulate_cmd.replay)

COMPLETE_VAR = "_TRUNKGUARD_COMPLETE"  # the variable the completion scripts set when they ask for words


@app.command("completion", rich_help_panel=SETUP, epilog=examples(
    "source <(trunkguard completion bash)     # in ~/.bashrc",
    "trunkguard completion zsh > ~/.zfunc/_trunkguard",
    "trunkguard completion fish > ~/.config/fish/completions/trunkguard.fish"))
def completion(shell: Literal["bash", "zsh", "fish"] = typer.Argument(..., help="The shell to complete in.")
               ) -> None:
    """Print the shell completion script for SHELL: commands, options and their choices complete with Tab."""
    from typer.main import get_command

    # The script is what the completion protocol answers when the scripts' variable asks for it: the same
    # answer `--show-completion` gives, for a shell named here rather than detected.
    os.environ[COMPLETE_VAR] = f"source_{shell}"
    try:
        get_command(app).main(args=[], prog_name="trunkguard", complete_var=COMPLETE_VAR)
    finally:
        os.environ.pop(COMPLETE_VAR, None)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trunkguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """trunkguard: carrier failover for contact centers."""


def main() -> None:
    # One name however it is started (`python -m trunkguard` too): the usage lines and the completion
    # scripts' variable (_TRUNKGUARD_COMPLETE) follow it.
    app(prog_name="trunkguard")
