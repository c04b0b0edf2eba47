# shellcheck shell=bash
# deploy/lib/selftest.sh: ./deploy.sh --selftest, which deploys nothing. Sourced by deploy.sh; main runs
# selftest_deployed instead of the steps.

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
