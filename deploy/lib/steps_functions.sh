# shellcheck shell=bash
# deploy/lib/steps_functions.sh: steps 4 and 5 of deploy.sh: deploy the four functions from the folder
# deploy/stage_function.py builds (with the image cleanup policy), then the Cloud Scheduler jobs that call the
# scheduled ones. Their sizes, environment and schedules are in deploy.sh ("what is deployed"). Sourced by deploy.sh.

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
    if [[ " ${flags[*]} " == *" --no-allow-unauthenticated "* ]]; then
      envs+=",$PRIVATE_FUNCTION_ENV"
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
  image_cleanup_policy
}

# --- image cleanup (part of step 4) ---------------------------------------------------------------------------
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

# --- step 5 ---------------------------------------------------------------------------------------------------
# Each job calls its function with an ID token of the scheduler account whose audience is the function's own
# *.run.app URL (serviceConfig.uri): Cloud Run always accepts that audience, so nothing on the service is changed
# behind Cloud Functions' back (https://cloud.google.com/run/docs/configuring/custom-audiences, read 2026-12-03).
# The function then checks only the account (pvs6_cloud/infra/oidc.py; the deployed config names no audience).
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
  job_schedules
}
