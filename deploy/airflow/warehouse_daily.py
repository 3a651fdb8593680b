"""The warehouse's night as an Airflow DAG: the steps of `runner daily` as separate tasks of
one recorded run, so a failure shows on its own step in Airflow's UI.

Each task is `runner daily --step STEP --run-id <this DAG run>`: the same code, records
(audit.job_runs), metrics and alerts as a night run by cron. `start` records the run;
every step runs even when one before it failed (a bad file does not stop the build, a
failed build still gets its backup), as `runner daily` does; each failed step fails its
task; `finish` closes the run, writes the metrics, alerts and fails when any step failed,
so the DAG run fails too. No retries: a failed step is recorded and alerted, and a retry
would only rebuild the same failing test (rerun the night, or clear a task, after a fix).

Copy this file to the DAGs folder of an Airflow installation that can run the `runner`
command of a checkout, and set the Airflow Variable `warehouse_project_dir` (default:
/srv/warehouse) to that checkout. Secrets (WAREHOUSE_PII_SALT, WAREHOUSE_ALERT_WEBHOOK)
come from the checkout's .warehouse/daily.env, the file cron and systemd read.
Try one night without the scheduler: `airflow dags test warehouse_daily`.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG

try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

PROJECT = "{{ var.value.get('warehouse_project_dir', '/srv/warehouse') }}"
# Every task of one DAG run shares its run id; the env file is optional here, as Airflow
# may pass the secrets itself.
RUNNER = (f"cd {PROJECT} && if [ -f .warehouse/daily.env ]; then set -a; "
          ". ./.warehouse/daily.env; set +a; fi && .venv/bin/runner daily "
          "--run-id 'airflow:{{ dag.dag_id }}:{{ run_id }}' --wait 600 --step")

with DAG(
    dag_id="warehouse_daily",
    description="Load landing files, build every layer with its tests, back up, report.",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0},
    tags=["warehouse"],
) as dag:
    tasks = [BashOperator(task_id="start", bash_command=f"{RUNNER} start")]
    for step in ("load", "build", "backup", "prune", "report", "finish"):
        # all_done: a step runs whatever the steps before it did, as in `runner daily`.
        tasks.append(BashOperator(task_id=step, bash_command=f"{RUNNER} {step}",
                                  trigger_rule="all_done"))
    for before, after in zip(tasks, tasks[1:]):
        before >> after
