# shellcheck shell=bash
# deploy/lib/steps_prepare.sh: steps 1 to 3 of deploy.sh, what the functions need before they exist: the Google APIs,
# the three service accounts (and the build account's roles), the config and the secrets in Secret Manager.
# Sourced by deploy.sh after deploy/lib/common.sh; main in deploy.sh runs the steps in order.

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
# LABEL is deploy.sh's constant, not a misspelt local label.
# shellcheck disable=SC2153
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
