#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# deploy.sh: put PVS6 Sentinel's cloud side into your Google Cloud project. Safe to run again after any change:
# what exists is updated, nothing is created twice.
#
# Usage: ./deploy.sh [--project ID] [--region REGION] [--config CLOUD_TOML] [--owner-email EMAIL]
#                    [--time-zone TZ] [--deploy-config FILE] [--with-monitoring-alerts] [--dry-run]
#                    [--selftest] [--help]
# Run ./deploy.sh --help for what each input means and what the script does, step by step.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly HELPER="$SCRIPT_DIR/deploy/deploy_config.py"
readonly APIS=(cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com
  artifactregistry.googleapis.com cloudscheduler.googleapis.com secretmanager.googleapis.com
  sheets.googleapis.com drive.googleapis.com logging.googleapis.com monitoring.googleapis.com
  iam.googleapis.com)
readonly ENTRY_POINTS=(ingest monthly_summary watchdog daily_rollup)
readonly SCHEDULED=(monthly_summary watchdog daily_rollup)
readonly FUNCTION_SA_NAME="pvs6-function"
readonly SCHEDULER_SA_NAME="pvs6-scheduler"
readonly BUILD_SA_NAME="pvs6-build"
# What Cloud Build needs to build a function as BUILD_SA_NAME (build logs, the image, the uploaded source):
# https://cloud.google.com/run/docs/configuring/services/build-service-account (read 2026-12-03).
readonly BUILD_ROLES=(roles/logging.logWriter roles/artifactregistry.writer roles/storage.objectAdmin)
readonly CONFIG_SECRET="pvs6-config"
readonly CONFIG_MOUNT="/etc/pvs6-sentinel/config.toml"
readonly RUNTIME="python312"
readonly LABEL="app=pvs6-sentinel"
readonly POLICY_ERRORS_NAME="PVS6 Sentinel: the cloud functions logged an error"
readonly POLICY_SCHEDULER_NAME="PVS6 Sentinel: a scheduled job failed"
readonly IMAGE_REPOSITORY="gcf-artifacts"
readonly CLEANUP_POLICY="$SCRIPT_DIR/deploy/cleanup-policy.json"

PROJECT="" REGION="" CLOUD_CONFIG="" OWNER_EMAIL="" TIME_ZONE="" DEPLOY_CONFIG="" MONITORING_ALERTS=""
DRY_RUN=0 SELFTEST=0 HAVE_GCLOUD=1 WORK=""
SITES=() SITE_SECRET_ENVS=() MAIL_PASSWORD_ENV="" MAIL_USER="" CONFIG_TIME_ZONE="" FIRST_MAIL_TO=""
FUNCTION_SA="" SCHEDULER_SA="" BUILD_SA="" STEP=0 GC=()
readonly STEPS=7

usage() {
  cat <<'EOF'
deploy.sh: deploy PVS6 Sentinel's cloud side to Google Cloud (idempotent: run it again after any change).

Inputs (a flag wins over the environment variable, which wins over the deploy config file):
  --project ID          PVS6_PROJECT_ID    Google Cloud project id (required)
  --region REGION       PVS6_REGION        region of the functions and schedules (default us-central1)
  --config FILE         PVS6_CLOUD_CONFIG  the cloud config TOML (start from deploy/cloud.example.toml)
  --owner-email EMAIL   PVS6_OWNER_EMAIL   who gets Google's own alert emails (default: first mail_to)
  --time-zone TZ        PVS6_TIME_ZONE     time zone of the schedules (default: the first site's timezone)
  --with-monitoring-alerts  PVS6_MONITORING_ALERTS=yes
                        also set up Google's own alert emails (Cloud Monitoring), which Google may bill
                        at $1.50 a month per alert: up to $3.00 a month (docs/cost.md). Off by default
  --deploy-config FILE                     KEY=VALUE file with the settings above (default deploy/deploy.env)
  --dry-run             print every command that would change something, change nothing; then show
                        each Google service's monthly use beside its free allowance (docs/cost.md)
  --selftest            deploy nothing: check what is deployed (settings, functions, jobs, a signed knock
                        on pvs6-ingest), then run `pvs6-cloud selftest` with the deployed settings (needs
                        the project installed once: python3 -m venv ~/pvs6-venv, then
                        ~/pvs6-venv/bin/pip install '.[cloud]'); it writes and removes a test row, sends
                        "PVS6 Sentinel is connected", checks the weather service, and ends with a verdict
Secret values (read from the environment when set, never printed):
  each site's secret_env (e.g. PVS6_SECRET_HOME): a random secret is made on the first run when unset
  [mail] password_env (e.g. PVS6_SMTP_PASSWORD): asked for on the first run when unset

What it does:
  1. enables the Google APIs it needs        5. creates or updates the Cloud Scheduler jobs
  2. creates three service accounts           6. only with --with-monitoring-alerts: Google's alert emails
  3. stores the config and secrets            7. prints the ingest URL and the lines for the Pi's edge.toml
  4. deploys the four functions (old images are deleted a day after they were built)
EOF
}

# --- what is deployed: each function's size, its environment, the schedules -----------------------------------
# deploy/cost_model.py reads these lines (and ENTRY_POINTS above) to count what the deployment uses of each Google
# service a month: keep them in this file. The steps that deploy them are in deploy/lib/steps_functions.sh.

# Memory and time limits. ingest: 512Mi (parsing, pvlib expected output, one Sheets commit per batch); it runs
# alone (max 1 instance, 1 request at a time) so two batches never write the sheet at once. monthly_summary
# renders charts with matplotlib: 1Gi. Timeouts leave room for the Sheets API's retry back-off.
function_flags() {
  case "$1" in
    ingest) printf '%s\n' --memory=512Mi --timeout=300s --max-instances=1 --concurrency=1 --allow-unauthenticated ;;
    monthly_summary) printf '%s\n' --memory=1Gi --timeout=540s --max-instances=1 --no-allow-unauthenticated ;;
    watchdog) printf '%s\n' --memory=512Mi --timeout=300s --max-instances=1 --no-allow-unauthenticated ;;
    daily_rollup) printf '%s\n' --memory=512Mi --timeout=540s --max-instances=1 --no-allow-unauthenticated ;;
  esac
}

# The environment of a private function (the scheduled jobs), besides its config. Its callers are checked by Cloud
# Run, which then strips the token's signature: tell the code it may trust the claims (pvs6_cloud/infra/oidc.py). Never
# on a public function, where a token could be forged. The scheduled jobs check no upload: they start without the
# Pis' secrets (pvs6_cloud/infra/config.py).
readonly PRIVATE_FUNCTION_ENV="PVS6_CALLERS_CHECKED_BY_CLOUD_RUN=1,PVS6_NO_UPLOAD_SECRETS=1"

# When each scheduled job calls its function (the job's time zone), its deadline and its description.
job_schedules() {
  ensure_job monthly_summary "0 8 1 * *" 540s "PVS6 Sentinel: monthly summary email, 1st of the month 08:00"
  ensure_job watchdog "*/30 * * * *" 300s "PVS6 Sentinel: is the Pi still sending? Every 30 minutes"
  ensure_job daily_rollup "30 23 * * *" 540s "PVS6 Sentinel: daily totals, every day at 23:30"
}

# The helpers and the steps live in deploy/lib/, next to this script: found from its own folder, so
# ./deploy.sh and bash deploy.sh work from any current folder.
# shellcheck source=deploy/lib/common.sh
source "$SCRIPT_DIR/deploy/lib/common.sh"
# shellcheck source=deploy/lib/inputs.sh
source "$SCRIPT_DIR/deploy/lib/inputs.sh"
# shellcheck source=deploy/lib/steps_prepare.sh
source "$SCRIPT_DIR/deploy/lib/steps_prepare.sh"
# shellcheck source=deploy/lib/steps_functions.sh
source "$SCRIPT_DIR/deploy/lib/steps_functions.sh"
# shellcheck source=deploy/lib/steps_finish.sh
source "$SCRIPT_DIR/deploy/lib/steps_finish.sh"
# shellcheck source=deploy/lib/selftest.sh
source "$SCRIPT_DIR/deploy/lib/selftest.sh"

cleanup() {
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    rm -rf "$WORK"
  fi
}

main() {
  parse_args "$@"
  resolve_inputs
  check_tools
  umask 077
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/pvs6-deploy.XXXXXX")"
  exec 3>&1
  trap cleanup EXIT
  read_cloud_config
  if ((SELFTEST)); then
    selftest_deployed
    return
  fi
  if ((DRY_RUN)); then
    say "DRY RUN: printing every command that would change something; nothing is changed."
    say "(Read-only look-ups still run, so the plan matches what already exists in $PROJECT.)"
  fi
  preflight
  enable_apis        # step 1
  service_accounts   # step 2
  store_secrets      # step 3
  deploy_functions   # step 4, with the image cleanup policy
  scheduler_jobs     # step 5
  monitoring         # step 6
  cost_summary       # --dry-run only
  summary            # step 7
}

main "$@"
