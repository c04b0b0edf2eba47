#!/usr/bin/env bash
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

# --- output ---------------------------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'deploy.sh stopped: %s\n' "$*" >&2
  exit 1
}
step() {
  STEP=$((STEP + 1))
  printf '\n== Step %d/%d: %s\n' "$STEP" "$STEPS" "$*"
}

# One word as a person would type it: bare when safe, else in single quotes (--flag='value with spaces').
shell_word() {
  local word="$1" q="'\''"
  if [[ "$word" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
    printf '%s' "$word"
  elif [[ "$word" =~ ^(--[a-z0-9-]+=)(.*)$ ]]; then
    printf "%s'%s'" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]//\'/$q}"
  else
    printf "'%s'" "${word//\'/$q}"
  fi
}

# One command as a person would type it (shell-quoted), with an optional note such as "< <secret>".
show_cmd() {
  local note="$1" out="" arg
  shift
  for arg in "$@"; do
    out+="$(shell_word "$arg") "
  done
  out="${out% }"
  if [[ -n "$note" ]]; then
    out+=" $note"
  fi
  if ((DRY_RUN)); then
    printf '  would run: %s\n' "$out" >&3
  else
    printf '  running:   %s\n' "$out" >&3
  fi
}

# --- running gcloud -------------------------------------------------------------------------------------------
# A command that changes something: printed, then run (not run with --dry-run).
run() {
  show_cmd "" "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  "$@"
}

# Like `run`, but IAM changes right after creating an account can fail until Google has propagated it: retry.
run_iam() {
  show_cmd "" "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  local attempt
  for attempt in 1 2 3 4; do
    if "$@" >/dev/null; then
      return 0
    fi
    if ((attempt < 4)); then
      say "  (Google has not finished creating the account yet; trying again in ${PVS6_RETRY_SLEEP_S:-15} s)"
      sleep "${PVS6_RETRY_SLEEP_S:-15}"
    fi
  done
  die "this permission change kept failing; see the message above, then run deploy.sh again"
}

# A command that changes something and whose output we need: prints PLACEHOLDER instead with --dry-run.
run_capture() {
  local placeholder="$1"
  shift
  show_cmd "" "$@"
  if ((DRY_RUN)); then
    printf '%s\n' "$placeholder"
    return 0
  fi
  "$@"
}

# Send a secret held in FILE to a command's stdin. The value is never printed, not even with --dry-run.
run_with_secret() {
  local file="$1" label="$2"
  shift 2
  show_cmd "< <secret: $label>" "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  "$@" <"$file"
}

# A read-only look-up (describe, list, access). It runs even with --dry-run, so the plan matches the project;
# failure means "not there" (or gcloud is missing or not logged in, which a dry run tolerates).
query() {
  if ((!HAVE_GCLOUD)); then
    return 1
  fi
  "$@" 2>/dev/null
}


# --- inputs ---------------------------------------------------------------------------------------------------
parse_args() {
  while (($#)); do
    case "$1" in
      --project) PROJECT="${2:?--project needs a value}"; shift 2 ;;
      --region) REGION="${2:?--region needs a value}"; shift 2 ;;
      --config) CLOUD_CONFIG="${2:?--config needs a value}"; shift 2 ;;
      --owner-email) OWNER_EMAIL="${2:?--owner-email needs a value}"; shift 2 ;;
      --time-zone) TIME_ZONE="${2:?--time-zone needs a value}"; shift 2 ;;
      --deploy-config) DEPLOY_CONFIG="${2:?--deploy-config needs a value}"; shift 2 ;;
      --with-monitoring-alerts) MONITORING_ALERTS=yes; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      --selftest) SELFTEST=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
  done
}

# Read KEY=VALUE lines (never executed); fills only what flags and the environment left empty.
read_deploy_config() {
  local file="$DEPLOY_CONFIG" key value dir
  if [[ -z "$file" ]]; then
    file="$SCRIPT_DIR/deploy/deploy.env"
    [[ -f "$file" ]] || return 0
  fi
  [[ -f "$file" ]] || die "deploy config $file does not exist"
  dir="$(cd "$(dirname "$file")" && pwd)"
  while IFS='=' read -r key value || [[ -n "$key" ]]; do
    key="${key#"${key%%[![:space:]]*}"}"
    [[ -z "$key" || "$key" == \#* ]] && continue
    value="${value%$'\r'}"
    value="${value%"${value##*[![:space:]]}"}"
    value="${value%\"}"
    value="${value#\"}"
    case "$key" in
      PVS6_PROJECT_ID) PROJECT="${PROJECT:-$value}" ;;
      PVS6_REGION) REGION="${REGION:-$value}" ;;
      PVS6_CLOUD_CONFIG)
        if [[ -z "$CLOUD_CONFIG" ]]; then
          if [[ "$value" == /* ]]; then CLOUD_CONFIG="$value"; else CLOUD_CONFIG="$dir/$value"; fi
        fi
        ;;
      PVS6_OWNER_EMAIL) OWNER_EMAIL="${OWNER_EMAIL:-$value}" ;;
      PVS6_TIME_ZONE) TIME_ZONE="${TIME_ZONE:-$value}" ;;
      PVS6_MONITORING_ALERTS) MONITORING_ALERTS="${MONITORING_ALERTS:-$value}" ;;
      *) warn "$file: ignoring unknown setting $key" ;;
    esac
  done <"$file"
}

resolve_inputs() {
  PROJECT="${PROJECT:-${PVS6_PROJECT_ID:-}}"
  REGION="${REGION:-${PVS6_REGION:-}}"
  CLOUD_CONFIG="${CLOUD_CONFIG:-${PVS6_CLOUD_CONFIG:-}}"
  OWNER_EMAIL="${OWNER_EMAIL:-${PVS6_OWNER_EMAIL:-}}"
  TIME_ZONE="${TIME_ZONE:-${PVS6_TIME_ZONE:-}}"
  MONITORING_ALERTS="${MONITORING_ALERTS:-${PVS6_MONITORING_ALERTS:-}}"
  read_deploy_config
  REGION="${REGION:-us-central1}"
  # Google's alert emails may be billed (docs/cost.md): only an explicit yes sets them up.
  case "${MONITORING_ALERTS,,}" in
    yes | true | 1) MONITORING_ALERTS=1 ;;
    "" | no | false | 0) MONITORING_ALERTS=0 ;;
    *) die "PVS6_MONITORING_ALERTS is '$MONITORING_ALERTS': write yes (set up Google's alert emails) or no" ;;
  esac
  [[ -n "$PROJECT" ]] || die "no project: pass --project ID (your Google Cloud project id)"
  [[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "'$PROJECT' is not a project id (lower case, 6-30 chars)"
  [[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die "'$REGION' is not a region name such as us-central1"
  [[ -n "$CLOUD_CONFIG" ]] || die "no cloud config: pass --config FILE (start from deploy/cloud.example.toml)"
  [[ -f "$CLOUD_CONFIG" ]] || die "cloud config $CLOUD_CONFIG does not exist"
  GC=(gcloud --project="$PROJECT" --quiet)
}

check_tools() {
  command -v python3 >/dev/null || die "python3 is needed (Cloud Shell has it)"
  python3 -c 'import tomllib' 2>/dev/null || die "Python 3.11 or newer is needed (Cloud Shell has it)"
  if ! command -v gcloud >/dev/null; then
    ((DRY_RUN)) || die "gcloud is not installed: use Cloud Shell (see docs/google-setup.md) or install it"
    HAVE_GCLOUD=0
    warn "gcloud is not installed; the dry run shows the plan for a fresh project"
    return 0
  fi
  # Only the alert emails' notification channel needs gcloud's beta commands.
  if ((MONITORING_ALERTS)); then
    check_gcloud_beta
  fi
}

# Google's alert emails need a notification channel, and gcloud manages those only with its beta commands
# (`gcloud beta monitoring channels`; the alert policies use GA commands). gcloud loads them from
# lib/surface/beta/ of its installation: Google's installer adds it only with `gcloud components install beta`,
# apt's google-cloud-cli package always has it. Look there rather than run a beta command, which would try to
# install the component by itself. An installation laid out otherwise is not judged (gcloud then says itself).
gcloud_has_beta() {
  local root
  root="$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null)" || return 0
  [[ -n "$root" && -d "$root/lib/surface" ]] || return 0
  [[ -f "$root/lib/surface/beta/__init__.py" ]]
}

check_gcloud_beta() {
  gcloud_has_beta && return 0
  local problem="this gcloud lacks its beta commands, which deploy.sh needs to set up Google's alert emails"
  local fix="Installed with Google's installer: run 'gcloud components install beta'. Installed with apt:
  run 'sudo apt-get update && sudo apt-get install --only-upgrade google-cloud-cli' (the package includes them).
  Cloud Shell has them already (docs/google-setup.md)"
  if ((DRY_RUN)); then
    warn "$problem. $fix"
  else
    die "$problem; nothing was changed. $fix"
  fi
}

# What the cloud config says (validated by deploy/deploy_config.py, which names any bad key).
read_cloud_config() {
  local facts kind a b c
  facts="$(python3 "$HELPER" facts "$CLOUD_CONFIG")" || die "fix $CLOUD_CONFIG as described above"
  while IFS=$'\t' read -r kind a b c; do
    case "$kind" in
      timezone) CONFIG_TIME_ZONE="$a" ;;
      site) SITES+=("$a"); SITE_SECRET_ENVS+=("$b"); : "$c" ;;
      mail_to) FIRST_MAIL_TO="${FIRST_MAIL_TO:-$a}" ;;
      mail) MAIL_USER="$b" ;;
      mail_password_env) MAIL_PASSWORD_ENV="$a" ;;
    esac
  done <<<"$facts"
  TIME_ZONE="${TIME_ZONE:-$CONFIG_TIME_ZONE}"
  OWNER_EMAIL="${OWNER_EMAIL:-$FIRST_MAIL_TO}"
  if ((MONITORING_ALERTS)) && [[ "$OWNER_EMAIL" != *@* ]]; then
    die "no owner email: pass --owner-email (it receives Google's alert emails)"
  fi
  FUNCTION_SA="$FUNCTION_SA_NAME@$PROJECT.iam.gserviceaccount.com"
  SCHEDULER_SA="$SCHEDULER_SA_NAME@$PROJECT.iam.gserviceaccount.com"
  BUILD_SA="$BUILD_SA_NAME@$PROJECT.iam.gserviceaccount.com"
}

preflight() {
  ((DRY_RUN)) && return 0
  local account
  account="$(gcloud auth list --filter=status:ACTIVE --format='value(account)' 2>/dev/null | head -n 1)" || true
  [[ -n "$account" ]] || die "gcloud is not logged in: run 'gcloud auth login' (Cloud Shell is logged in already)"
  query "${GC[@]}" projects describe "$PROJECT" --format='value(projectNumber)' >/dev/null ||
    die "project $PROJECT was not found, or $account may not use it: check the id on the console"
  say "Logged in as $account; deploying to project $PROJECT in $REGION."
  # Refuse now, before changing anything, if the Gmail app password is needed but cannot be had.
  if [[ -n "$MAIL_PASSWORD_ENV" && -z "${!MAIL_PASSWORD_ENV:-}" && ! -t 0 ]] &&
    ! has_version "$(secret_id "$MAIL_PASSWORD_ENV")"; then
    die "the Gmail app password is not stored yet: run ./deploy.sh in a terminal, where it asks, or set $MAIL_PASSWORD_ENV with read -rsp (docs/google-setup.md)"
  fi
}

function_name() { printf 'pvs6-%s' "${1//_/-}"; }
# Secret Manager id of an environment variable name: PVS6_SECRET_HOME -> pvs6-secret-home.
secret_id() { printf '%s' "$1" | tr 'A-Z_' 'a-z-'; }

# --- step 1 ---------------------------------------------------------------------------------------------------
enable_apis() {
  step "enable the Google APIs PVS6 Sentinel uses (already enabled ones are left as they are)"
  run "${GC[@]}" services enable "${APIS[@]}"
}

# --- step 2 ---------------------------------------------------------------------------------------------------
ensure_service_account() {
  local name="$1" email="$2" display="$3" description="$4"
  if query "${GC[@]}" iam service-accounts describe "$email" --format='value(email)' >/dev/null; then
    say "  service account $email exists"
  else
    run "${GC[@]}" iam service-accounts create "$name" --display-name="$display" --description="$description"
  fi
}

# Cloud Build builds each function as this account. Projects made since 2024 no longer give the default
# Compute Engine account the build roles (and organisations may forbid it), so the first build would fail there:
# https://cloud.google.com/functions/1stgendocs/securing/build-custom-sa (read 2026-12-03). Granting a role the
# account already has changes nothing; --condition=None keeps gcloud from asking when the project has conditions.
grant_build_roles() {
  local role
  for role in "${BUILD_ROLES[@]}"; do
    run_iam "${GC[@]}" projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$BUILD_SA" \
      --role="$role" --condition=None
  done
}

service_accounts() {
  step "service accounts: one the functions run as, one Cloud Scheduler calls them with, one that builds them"
  ensure_service_account "$FUNCTION_SA_NAME" "$FUNCTION_SA" "PVS6 Sentinel function" \
    "Runs the PVS6 Sentinel functions; share your Google Sheet with this account"
  ensure_service_account "$SCHEDULER_SA_NAME" "$SCHEDULER_SA" "PVS6 Sentinel scheduler" \
    "Cloud Scheduler calls the PVS6 Sentinel scheduled functions as this account"
  ensure_service_account "$BUILD_SA_NAME" "$BUILD_SA" "PVS6 Sentinel build" \
    "Cloud Build builds the PVS6 Sentinel functions as this account"
  grant_build_roles
}

# --- step 3 ---------------------------------------------------------------------------------------------------
# Policy: a new secret version is added only when the value changed (Secret Manager bills per stored version,
# and a re-run must not rotate the Pi's secret). An unchanged value is left alone.
ensure_secret() {
  local id="$1"
  if query "${GC[@]}" secrets describe "$id" --format='value(name)' >/dev/null; then
    return 0
  fi
  run "${GC[@]}" secrets create "$id" --replication-policy=automatic --labels="$LABEL"
}

# Does the latest version of secret ID hold exactly the bytes of FILE? (1 = differs or has no version)
secret_matches() {
  local id="$1" file="$2" current="$WORK/current-secret"
  if ! query "${GC[@]}" secrets versions access latest --secret="$id" --out-file="$current" >/dev/null; then
    rm -f "$current"
    return 2
  fi
  local status=1
  cmp -s "$current" "$file" && status=0
  rm -f "$current"
  return "$status"
}

has_version() {
  local id="$1" current="$WORK/current-secret" status=1
  query "${GC[@]}" secrets versions access latest --secret="$id" --out-file="$current" >/dev/null && status=0
  rm -f "$current"
  return "$status"
}

# Store FILE as the new version of ID when it differs from the latest one.
put_secret() {
  local id="$1" file="$2" label="$3"
  ensure_secret "$id"
  if secret_matches "$id" "$file"; then
    say "  $id is up to date"
  else
    run_with_secret "$file" "$label" "${GC[@]}" secrets versions add "$id" --data-file=-
  fi
  rm -f "$file"
}

grant_secret() {
  run_iam "${GC[@]}" secrets add-iam-policy-binding "$1" --member="serviceAccount:$FUNCTION_SA" \
    --role=roles/secretmanager.secretAccessor
}

store_site_secret() {
  local env_name="$1" id file="$WORK/new-secret"
  id="$(secret_id "$env_name")"
  if [[ -n "${!env_name:-}" ]]; then
    printf '%s' "${!env_name}" >"$file"
    put_secret "$id" "$file" "\$$env_name"
  elif has_version "$id"; then
    say "  $id already holds the Pi's upload secret; keeping it (export $env_name=... to replace it)"
  else
    ensure_secret "$id"
    python3 -c 'import secrets, sys; sys.stdout.write(secrets.token_hex(32))' >"$file"
    run_with_secret "$file" "a new random secret" "${GC[@]}" secrets versions add "$id" --data-file=-
    rm -f "$file"
  fi
  grant_secret "$id"
}

store_mail_password() {
  local env_name="$MAIL_PASSWORD_ENV" id file="$WORK/new-secret" value=""
  [[ -n "$env_name" ]] || return 0
  id="$(secret_id "$env_name")"
  if [[ -n "${!env_name:-}" ]]; then
    printf '%s' "${!env_name// /}" >"$file"
    put_secret "$id" "$file" "\$$env_name"
  elif has_version "$id"; then
    say "  $id already holds the Gmail app password; keeping it (to replace it: read -rsp 'Gmail app password: ' $env_name && export $env_name, then ./deploy.sh)"
  elif ((DRY_RUN)); then
    ensure_secret "$id"
    show_cmd "< <secret: the Gmail app password you will be asked for>" \
      "${GC[@]}" secrets versions add "$id" --data-file=-
  elif [[ -t 0 ]]; then
    ensure_secret "$id"
    read -r -s -p "  Gmail app password for ${MAIL_USER:-the mail account} (typing is hidden): " value
    printf '\n'
    [[ -n "$value" ]] || die "no app password given"
    printf '%s' "${value// /}" >"$file"
    value=""
    run_with_secret "$file" "the app password you typed" "${GC[@]}" secrets versions add "$id" --data-file=-
    rm -f "$file"
  else
    die "the Gmail app password is not stored yet: run ./deploy.sh in a terminal, where it asks, or set $env_name with read -rsp (docs/google-setup.md)"
  fi
  grant_secret "$id"
}

store_secrets() {
  step "store the config and the secrets in Secret Manager (a new version only when a value changed)"
  local i
  python3 "$HELPER" render "$CLOUD_CONFIG" "$WORK/config.toml" "$SCHEDULER_SA" ||
    die "fix $CLOUD_CONFIG as described above"
  put_secret "$CONFIG_SECRET" "$WORK/config.toml" "the cloud config file $(basename "$CLOUD_CONFIG")"
  grant_secret "$CONFIG_SECRET"
  for i in "${!SITES[@]}"; do
    store_site_secret "${SITE_SECRET_ENVS[$i]}"
  done
  store_mail_password
}

# --- step 4 ---------------------------------------------------------------------------------------------------
# The deployable folder: cloud/ (main.py, requirements.txt, pvs6_cloud/) plus pvs6_parse/ (the parser the Pi shares)
# and sheets_template/ (the sheet layout). deploy/stage_function.py builds it and refuses one that would not stand
# alone; only what the function needs goes in, tests and caches stay out.
stage_source() {
  local stage="$WORK/source"
  python3 "$SCRIPT_DIR/deploy/stage_function.py" "$stage" >&2 || die "the function's folder could not be built"
  printf '%s' "$stage"
}

# The secrets a function starts with: the config and the mail password always; the Pis' upload secrets only for
# the function that checks uploads (pass "uploads"). Each is one Secret Manager read per start (docs/cost.md).
# A site's upload secret is mounted in a folder of its own (a secret mount hides the whole folder). Cloud Run
# reads a mounted secret's latest version at every read, so a new version reaches the running function within a
# minute (pvs6_cloud/runtime.py); an environment variable would be fixed until the next deploy.
site_secret_file() { printf '/etc/%s/secret' "$(secret_id "$1")"; }

secrets_flag() {
  local i id flag="$CONFIG_MOUNT=$CONFIG_SECRET:latest"
  if [[ "${1:-}" == uploads ]]; then
    for i in "${!SITES[@]}"; do
      id="$(secret_id "${SITE_SECRET_ENVS[$i]}")"
      flag+=",$(site_secret_file "${SITE_SECRET_ENVS[$i]}")=$id:latest"
    done
  fi
  if [[ -n "$MAIL_PASSWORD_ENV" ]]; then
    flag+=",$MAIL_PASSWORD_ENV=$(secret_id "$MAIL_PASSWORD_ENV"):latest"
  fi
  printf '%s' "$flag"
}

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

function_url() {
  query "${GC[@]}" functions describe "$(function_name "$1")" --region="$REGION" --gen2 \
    --format='value(serviceConfig.uri)'
}

deploy_functions() {
  step "deploy the four functions (gen2 Cloud Run functions, $RUNTIME; this takes a few minutes each)"
  local stage entry name secrets flag envs i flags=()
  stage="$(stage_source)"
  say "  source folder: $stage (cloud/ plus pvs6_parse/ and sheets_template/)"
  for entry in "${ENTRY_POINTS[@]}"; do
    name="$(function_name "$entry")"
    flags=()
    while IFS= read -r flag; do flags+=("$flag"); done < <(function_flags "$entry")
    envs="PVS6_CLOUD_CONFIG=$CONFIG_MOUNT"
    # A private function's callers are checked by Cloud Run, which then strips the token's signature: tell the
    # code it may trust the claims (pvs6_cloud/oidc.py). Never on a public function, where a token could be forged.
    if [[ " ${flags[*]} " == *" --no-allow-unauthenticated "* ]]; then
      envs+=",PVS6_CALLERS_CHECKED_BY_CLOUD_RUN=1"
      # The scheduled jobs check no upload: they start without the Pis' secrets (pvs6_cloud/config.py).
      envs+=",PVS6_NO_UPLOAD_SECRETS=1"
      secrets="$(secrets_flag)"
    else
      secrets="$(secrets_flag uploads)"
      for i in "${!SITES[@]}"; do
        envs+=",${SITE_SECRET_ENVS[$i]}_FILE=$(site_secret_file "${SITE_SECRET_ENVS[$i]}")"
      done
    fi
    run "${GC[@]}" functions deploy "$name" --gen2 --runtime="$RUNTIME" --region="$REGION" --source="$stage" \
      --entry-point="$entry" --trigger-http "${flags[@]}" --service-account="$FUNCTION_SA" \
      --build-service-account="projects/$PROJECT/serviceAccounts/$BUILD_SA" --set-env-vars="$envs" \
      --set-secrets="$secrets" --update-labels="$LABEL"
  done
  for entry in "${SCHEDULED[@]}"; do
    name="$(function_name "$entry")"
    run_iam "${GC[@]}" functions add-invoker-policy-binding "$name" --region="$REGION" \
      --member="serviceAccount:$SCHEDULER_SA"
  done
}

# --- image cleanup (part of step 4) and the cost summary -----------------------------------------------------------
# Each deploy builds one image per function into the repository gcf-artifacts, and Google never deletes the old
# ones; its always-free storage is 0.5 GB and four images take 0.55 GB (docs/cost.md). The policy in
# deploy/cleanup-policy.json deletes every image a day after its build, as Google's Firebase CLI does for this
# repository by default: a deployed function keeps running without it. --no-dry-run: without it gcloud may only
# report what the policy would delete.
image_cleanup_policy() {
  say "  old function images: Artifact Registry deletes each one a day after it was built (0.5 GB are free)"
  # The repository appears with the first function deployed; a dry run on a fresh project shows the command anyway.
  if ((!DRY_RUN)) && ! query "${GC[@]}" artifacts repositories describe "$IMAGE_REPOSITORY" --location="$REGION" \
    --format='value(name)' >/dev/null; then
    warn "the repository $IMAGE_REPOSITORY was not found in $REGION; old images are not cleaned up (run deploy.sh again)"
    return 0
  fi
  # Setting the same policies again changes nothing, like `services enable`: no need to compare first.
  run "${GC[@]}" artifacts repositories set-cleanup-policies "$IMAGE_REPOSITORY" --location="$REGION" \
    --policy="$CLEANUP_POLICY" --no-dry-run
}

# What the deployment uses of each Google service per month, beside the free allowances (deploy/cost_model.py;
# figures measured by bench/cost.py). Shown with --dry-run, before anything is created.
cost_summary() {
  ((DRY_RUN)) || return 0
  printf '\n== What it costs: monthly use of each Google service for %d site(s), beside the free allowance\n' \
    "${#SITES[@]}"
  local alerts=()
  ((MONITORING_ALERTS)) && alerts=(--monitoring-alerts)
  python3 "$SCRIPT_DIR/deploy/cost_model.py" summary --sites "${#SITES[@]}" "${alerts[@]}" ||
    warn "the cost summary could not be computed (see above); docs/cost.md has the figures"
}

# --- step 5 ---------------------------------------------------------------------------------------------------
# Each job calls its function with an ID token of the scheduler account whose audience is the function's own
# *.run.app URL (serviceConfig.uri): Cloud Run always accepts that audience, so nothing on the service is changed
# behind Cloud Functions' back (https://cloud.google.com/run/docs/configuring/custom-audiences, read 2026-12-03).
# The function then checks only the account (pvs6_cloud/oidc.py; the deployed config names no audience).
ensure_job() {
  local entry="$1" schedule="$2" deadline="$3" description="$4" job url verb
  job="$(function_name "$entry")"
  url="$(function_url "$entry")" || url=""
  if [[ -z "$url" ]]; then
    ((DRY_RUN)) || die "cannot find the URL of function $job; run deploy.sh again"
    url="<URL of $job, known once it is deployed>"
  fi
  if query "${GC[@]}" scheduler jobs describe "$job" --location="$REGION" --format='value(name)' >/dev/null; then
    verb=update
  else
    verb=create
  fi
  run "${GC[@]}" scheduler jobs "$verb" http "$job" --location="$REGION" --schedule="$schedule" \
    --time-zone="$TIME_ZONE" --uri="$url" --http-method=POST --oidc-service-account-email="$SCHEDULER_SA" \
    --oidc-token-audience="$url" --attempt-deadline="$deadline" --description="$description"
}

scheduler_jobs() {
  step "Cloud Scheduler jobs (time zone $TIME_ZONE), each calling its function with a Google-signed token"
  ensure_job monthly_summary "0 8 1 * *" 540s "PVS6 Sentinel: monthly summary email, 1st of the month 08:00"
  ensure_job watchdog "*/30 * * * *" 300s "PVS6 Sentinel: is the Pi still sending? Every 30 minutes"
  ensure_job daily_rollup "30 23 * * *" 540s "PVS6 Sentinel: daily totals, every day at 23:30"
}

# --- step 6 ---------------------------------------------------------------------------------------------------
ensure_policy() {
  local display="$1" template="$2" filter="$3" channel="$4" file existing
  file="$WORK/$(basename "$template")"
  python3 "$HELPER" template "$template" "$file" "DISPLAY_NAME=$display" "FILTER=$filter" \
    "CHANNEL=$channel" || die "cannot fill $template"
  existing="$(query "${GC[@]}" monitoring policies list --filter="displayName=\"$display\"" \
    --format='value(name)' | head -n 1)" || existing=""
  if [[ -n "$existing" ]]; then
    run "${GC[@]}" monitoring policies update "$existing" --policy-from-file="$file"
  else
    run "${GC[@]}" monitoring policies create --policy-from-file="$file"
  fi
}

or_list() {
  local out="" item
  for item in "$@"; do
    out+="${out:+ OR }\"$item\""
  done
  printf '(%s)' "$out"
}

# Google bills $1.50 a month per alert condition and does not say whether log-based ones are exempt (docs/cost.md):
# the owner asked for no fees, so these are set up only on request. Without it nothing is created, and policies an
# earlier deploy made are named with the command that removes them: deleting them is the owner's choice, not ours.
existing_policies() {
  local display
  for display in "$POLICY_ERRORS_NAME" "$POLICY_SCHEDULER_NAME"; do
    query "${GC[@]}" monitoring policies list --filter="displayName=\"$display\"" --format='value(name)' |
      head -n 1 || true
  done
}

monitoring() {
  if ((!MONITORING_ALERTS)); then
    step "Google's own alert emails (Cloud Monitoring): not set up, as Google may bill them"
    say "  (./deploy.sh --with-monitoring-alerts sets them up; Google may bill them: docs/cost.md)"
    local kept=() name
    while IFS= read -r name; do
      [[ -n "$name" ]] && kept+=("$name")
    done < <(existing_policies)
    ((${#kept[@]})) || return 0
    warn "an earlier deploy made ${#kept[@]} Google alert policies, which are still there: Google may bill up to
  \$1.50 a month for each (docs/cost.md). deploy.sh leaves them as they are. To remove them, run:"
    for name in "${kept[@]}"; do
      printf '    gcloud monitoring policies delete %s --project=%s\n' "$name" "$PROJECT" >&2
    done
    return 0
  fi
  step "Google's own alerting: email $OWNER_EMAIL when the functions log errors or a scheduled job fails"
  say "  (Google may bill up to \$1.50 a month for each of the two alerts: docs/cost.md)"
  local channel names=() jobs=() entry filter
  channel="$(query "${GC[@]}" beta monitoring channels list --type=email \
    --filter="labels.email_address=\"$OWNER_EMAIL\"" --format='value(name)' | head -n 1)" || channel=""
  if [[ -n "$channel" ]]; then
    say "  notification channel for $OWNER_EMAIL exists ($channel)"
  else
    channel="$(run_capture "projects/$PROJECT/notificationChannels/<new channel id>" \
      "${GC[@]}" beta monitoring channels create --type=email --display-name="PVS6 Sentinel owner ($OWNER_EMAIL)" \
      --channel-labels="email_address=$OWNER_EMAIL" --user-labels="$LABEL" --format='value(name)')"
    [[ -n "$channel" ]] || die "Google did not return the new notification channel's name"
  fi
  for entry in "${ENTRY_POINTS[@]}"; do names+=("$(function_name "$entry")"); done
  for entry in "${SCHEDULED[@]}"; do jobs+=("$(function_name "$entry")"); done
  filter="severity>=ERROR AND ((resource.type=\"cloud_run_revision\" AND resource.labels.service_name=$(or_list \
"${names[@]}")) OR (resource.type=\"cloud_function\" AND resource.labels.function_name=$(or_list "${names[@]}")))"
  ensure_policy "$POLICY_ERRORS_NAME" "$SCRIPT_DIR/deploy/policy-function-errors.json" "$filter" "$channel"
  filter="resource.type=\"cloud_scheduler_job\" AND resource.labels.job_id=$(or_list "${jobs[@]}") AND severity>=ERROR"
  ensure_policy "$POLICY_SCHEDULER_NAME" "$SCRIPT_DIR/deploy/policy-scheduler-failures.json" "$filter" "$channel"
}

# --- step 7 ---------------------------------------------------------------------------------------------------
summary() {
  step "what to do next"
  local url i site
  url="$(function_url ingest)" || url=""
  [[ -n "$url" ]] || url="<ingest URL: shown here after a real run>"
  cat <<EOF

1. Share each Google Sheet with the functions' service account, as Editor (Share button, paste this address):
       $FUNCTION_SA

2. On the Raspberry Pi, put these lines in /etc/pvs6-sentinel/edge.toml (replace the [cloud] table):
EOF
  for i in "${!SITES[@]}"; do
    site="${SITES[$i]}"
    cat <<EOF

       [cloud]
       url = "$url"
       site = "$site"
       secret_file = "/etc/pvs6-sentinel/secret"

   Then give the Pi this site's upload secret (made here, in the cloud; the Pi only receives it). It is not
   shown here. In Cloud Shell, this prints the one command to paste on the Pi (the secret is in it, so treat
   it like a password; the leading space keeps it out of the Pi's shell history):
       echo " echo '\$(gcloud secrets versions access latest --secret=$(secret_id "${SITE_SECRET_ENVS[$i]}") --project=$PROJECT)' | sudo tee /etc/pvs6-sentinel/secret >/dev/null"
EOF
  done
  if ((MONITORING_ALERTS)); then
    say $'\n3. Google emails '"$OWNER_EMAIL"' if the functions log errors or a scheduled job fails.'
  else
    say $'\n3. Free checks that tell you the monitor itself stopped: docs/google-setup.md, step 8.'
  fi
  if ((DRY_RUN)); then
    say $'\nDry run: nothing was changed.'
  fi
}

# --- ./deploy.sh --selftest: check what is deployed, change nothing ------------------------------------------------
# It deploys nothing: it reads what deploy.sh stored and created, knocks on pvs6-ingest the way the Pi does
# (deploy/probe_ingest.py), then runs `pvs6-cloud selftest` with the deployed settings and secrets, and ends
# with one verdict. Every problem found is collected, so the owner sees all of them at once.
PROBLEMS=()

problem() {
  PROBLEMS+=("$1")
  printf '  PROBLEM: %s\n' "$1"
}

# pvs6-cloud on PATH, else in the private environment docs/google-setup.md makes (~/pvs6-venv).
find_pvs6_cloud() {
  if command -v pvs6-cloud; then
    return 0
  fi
  if [[ -x "${HOME:-}/pvs6-venv/bin/pvs6-cloud" ]]; then
    printf '%s\n' "$HOME/pvs6-venv/bin/pvs6-cloud"
    return 0
  fi
  return 1
}

selftest_verdict() {
  local item
  printf '\n'
  if ((${#PROBLEMS[@]} == 0)); then
    say "Verdict: everything works. The functions and timers are deployed, pvs6-ingest lets the Pi's uploads in,"
    say "and the monitor can write your sheet and email you (look for \"PVS6 Sentinel is connected\")."
    return 0
  fi
  say "Verdict: ${#PROBLEMS[@]} problem(s) found; nothing was changed. Fix them, then run ./deploy.sh --selftest again:"
  for item in "${PROBLEMS[@]}"; do
    say "  - $item"
  done
  return 1
}

selftest_deployed() {
  local cli="" account deployed="$WORK/deployed-config.toml" local_copy="$WORK/local-config.toml" entry name url
  local ingest_url="" i env_name id value line
  printf '\n== Self-test of what is deployed in %s (nothing is deployed or changed)\n' "$PROJECT"
  if ! cli="$(find_pvs6_cloud)"; then
    ((DRY_RUN)) || die "the self-test needs PVS6 Sentinel installed here once (a few minutes), in its own Python
  environment. In this folder run:
      python3 -m venv ~/pvs6-venv
      ~/pvs6-venv/bin/pip install -q '.[cloud]'
  then ./deploy.sh --selftest again (it finds ~/pvs6-venv by itself)"
    cli="pvs6-cloud"
  fi
  if ((!HAVE_GCLOUD)); then
    show_cmd "(with the deployed settings and each secret from Secret Manager)" "$cli" selftest --config "<deployed>"
    say $'\nDry run: gcloud is not installed, so nothing could be looked at.'
    return 0
  fi
  if ((!DRY_RUN)); then
    account="$(gcloud auth list --filter=status:ACTIVE --format='value(account)' 2>/dev/null | head -n 1)" || true
    [[ -n "$account" ]] || die "gcloud is not logged in: run 'gcloud auth login' (Cloud Shell is logged in already)"
  fi

  if query "${GC[@]}" secrets versions access latest --secret="$CONFIG_SECRET" --out-file="$deployed" >/dev/null; then
    python3 "$HELPER" render "$CLOUD_CONFIG" "$local_copy" "$SCHEDULER_SA" ||
      die "fix $CLOUD_CONFIG as described above"
    if cmp -s "$deployed" "$local_copy"; then
      say "  settings: the deployed copy ($CONFIG_SECRET) matches $(basename "$CLOUD_CONFIG")"
    else
      problem "$(basename "$CLOUD_CONFIG") has changes that are not deployed yet: run ./deploy.sh (the test below uses the deployed settings)"
    fi
  else
    problem "PVS6 Sentinel is not deployed in project $PROJECT (no $CONFIG_SECRET secret): run ./deploy.sh first"
    selftest_verdict
    return
  fi

  for entry in "${ENTRY_POINTS[@]}"; do
    name="$(function_name "$entry")"
    if url="$(function_url "$entry")" && [[ -n "$url" ]]; then
      say "  function $name is deployed ($url)"
      [[ "$entry" == ingest ]] && ingest_url="$url"
    else
      problem "the function $name is not deployed: run ./deploy.sh"
    fi
  done
  for entry in "${SCHEDULED[@]}"; do
    name="$(function_name "$entry")"
    if query "${GC[@]}" scheduler jobs describe "$name" --location="$REGION" --format='value(name)' >/dev/null; then
      say "  scheduled job $name exists"
    else
      problem "the scheduled job $name is missing: run ./deploy.sh"
    fi
  done

  if ((DRY_RUN)); then
    say "  would knock on pvs6-ingest with each site's upload secret (deploy/probe_ingest.py)"
    show_cmd "(with the deployed settings and each secret from Secret Manager)" "$cli" selftest --config "<deployed>"
    say $'\nDry run: the checks that send or write something were not run.'
    return 0
  fi

  (
    # Each secret goes into this subshell's environment only (export is a shell builtin: no process sees it
    # on a command line), exactly as Secret Manager hands it to the function.
    for i in "${!SITE_SECRET_ENVS[@]}"; do
      env_name="${SITE_SECRET_ENVS[$i]}"
      id="$(secret_id "$env_name")"
      value="$("${GC[@]}" secrets versions access latest --secret="$id" 2>/dev/null)" || {
        problem "cannot read the upload secret $id from Secret Manager: run ./deploy.sh"
        continue
      }
      export "$env_name=$value"
      if [[ -n "$ingest_url" ]]; then
        if line="$(PVS6_PROBE_SECRET="$value" python3 "$SCRIPT_DIR/deploy/probe_ingest.py" "$ingest_url" \
          "${SITES[$i]}")"; then
          say "  $line"
        else
          problem "${line:-the knock on pvs6-ingest could not be made (see the message above)}"
        fi
      fi
    done
    if [[ -n "$MAIL_PASSWORD_ENV" ]]; then
      id="$(secret_id "$MAIL_PASSWORD_ENV")"
      if value="$("${GC[@]}" secrets versions access latest --secret="$id" 2>/dev/null)"; then
        export "$MAIL_PASSWORD_ENV=$value"
      else
        problem "the Gmail app password is not stored ($id): run ./deploy.sh, it asks for it"
      fi
    fi
    value=""
    printf '\n'
    show_cmd "(with the deployed settings and each secret in its environment variable)" "$cli" selftest \
      --config "$deployed"
    if ! "$cli" selftest --config "$deployed"; then
      problem "pvs6-cloud selftest found a problem with the sheet, the email or the weather (its table above says which)"
    fi
    selftest_verdict
  )
}

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
  enable_apis
  service_accounts
  store_secrets
  deploy_functions
  image_cleanup_policy
  scheduler_jobs
  monitoring
  cost_summary
  summary
}

main "$@"
