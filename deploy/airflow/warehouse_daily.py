"""The warehouse's night as an Airflow DAG: the steps of `runner daily` as separate tasks,
so a failure shows on its own step in Airflow's UI and is retried there.

Copy this file to the DAGs folder of an Airflow installation that can run the `runner`
command of a checkout, and set the Airflow Variable `warehouse_project_dir` (default:
/srv/warehouse) to that checkout. Check that it imports:

    python -c "import runpy; runpy.run_path('deploy/airflow/warehouse_daily.py')"
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG

try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

PROJECT = "{{ var.value.get('warehouse_project_dir', '/srv/warehouse') }}"
RUNNER = f"cd {PROJECT} && .venv/bin/runner"

with DAG(
    dag_id="warehouse_daily",
    description="Load landing files, build every layer with its tests, back up, report.",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    tags=["warehouse"],
) as dag:
    load = BashOperator(task_id="load", bash_command=f"{RUNNER} load --wait 600")
    build = BashOperator(task_id="build", bash_command=f"{RUNNER} build --wait 600")
    backup = BashOperator(
        task_id="backup",
        bash_command=f"{RUNNER} backup --label nightly --wait 600 && "
                     f"{RUNNER} backup prune --keep-days 30 --keep-last 7",
        trigger_rule="all_done",  # bronze deserves a backup even when the build failed
    )
    report = BashOperator(
        task_id="report",
        bash_command=f"({RUNNER} observe status | grep -q '^observability: on') "
                     f"&& {RUNNER} report || echo 'observability is off: no report'",
    )
    metrics = BashOperator(task_id="metrics", bash_command=f"{RUNNER} metrics",
                           trigger_rule="all_done")
    load >> build >> backup >> report >> metrics
