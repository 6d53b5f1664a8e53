"""Azure Functions (Python v2 model): one `trunkguard cycle` per timer tick.

Deploy with `requirements.txt` naming azure-functions and trunkguard; set the app settings
TRUNKGUARD_CONFIG (the config's path in the package; storage.url must be a PostgreSQL the
function reaches), TRUNKGUARD_CYCLE_DEADLINE (seconds, below the schedule's period) and the
secrets the config names (Key Vault references). A failed run raises: it shows as a failed
execution. docs/deployment.md ("On a schedule") says what detection time a schedule gives.
"""

from __future__ import annotations

import azure.functions as func  # type: ignore[import-not-found]

from trunkguard.cli.cycle_cmd import scheduled

app = func.FunctionApp()


@app.timer_trigger(schedule="*/30 * * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def trunkguard_cycle(timer: func.TimerRequest) -> None:
    scheduled()
