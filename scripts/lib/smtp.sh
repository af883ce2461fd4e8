# Shared by scripts/test: installs the SMTP server the email tests talk to (aiosmtpd, from PyPI)
# into the project's git-ignored .venv, once. Source after osmem.sh (it sets VENV); defines
# functions and changes nothing.

AIOSMTPD_VERSION="1.4.6"

smtp_install() {
  if [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing the SMTP test server aiosmtpd==$AIOSMTPD_VERSION into $VENV" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
}
