#!/usr/bin/env bash
# What the tests need beyond Python packages: Debian's chromium (browser tests of the coder's page;
# Playwright's own browser download does not work offline) and a Java 17+ runtime (PySpark local mode).
# Installed with apt when missing and we are root; otherwise say what is missing (those tests then skip
# with a reason). Under CI (CI=true) a failed install fails the run, so browser and Spark tests never
# skip silently there.
set -uo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]} with apt-get"
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    exit 0
  fi
  echo "system-deps: could not install ${missing[*]}" >&2
else
  echo "system-deps: ${missing[*]} missing and cannot be installed here (not root or no apt-get); the browser or Spark tests will skip" >&2
fi
[ "${CI:-}" = "true" ] && exit 1
exit 0
