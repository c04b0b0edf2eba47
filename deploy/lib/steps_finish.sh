# shellcheck shell=bash
# deploy/lib/steps_finish.sh: steps 6 and 7 of deploy.sh: Google's own alert emails (only when asked for), the cost
# summary a dry run shows, and what to do next (the lines for the Pi). Sourced by deploy.sh.

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

# --- the cost summary (--dry-run only, before step 7) ---------------------------------------------------------
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
