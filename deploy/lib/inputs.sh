# shellcheck shell=bash
# deploy/lib/inputs.sh: what deploy.sh is asked to do, and whether it can: the flags, the deploy config file and the
# environment, the cloud config (read by deploy/deploy_config.py), the tools it needs and the gcloud login.
# Sourced by deploy.sh after deploy/lib/common.sh; nothing here changes the project. The settings these functions
# fill are deploy.sh's, read by the steps: linted alone, this file cannot see those reads, hence the SC2034 lines.

# --- inputs ---------------------------------------------------------------------------------------------------
# shellcheck disable=SC2034
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

# shellcheck disable=SC2034
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
# shellcheck disable=SC2034
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
