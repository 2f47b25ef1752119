#!/usr/bin/env bash
# Build Hearth.app and a .dmg on macOS (run on a Mac; not possible on Linux):
#   dist/Hearth.app, dist/Hearth-<version>-macos-<arch>.dmg
#
#   packaging/macos/build_macos.sh
#
# Needs Python 3.11+ with Hearth installed with the `package` extra (PYTHON, default the
# active virtualenv's python, else python3). Optional signing and notarization:
#   MACOS_SIGN_IDENTITY="Developer ID Application: Example Corp (TEAMID)"
#   MACOS_NOTARY_PROFILE=<profile saved with `xcrun notarytool store-credentials`>
# Without an identity the app is signed ad hoc (fine for testing; Gatekeeper on other
# Macs will refuse it until it is signed and notarized).
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}
py=${py:-python3}
version=$(PYTHONPATH=$PWD "$py" -c 'import app; print(app.__version__)')
arch=$(uname -m)

PYTHONPATH=$PWD "$py" -m PyInstaller --noconfirm --clean packaging/hearth.spec
app=dist/Hearth.app

identity=${MACOS_SIGN_IDENTITY:--}
codesign --force --deep --timestamp --options runtime \
    --entitlements packaging/macos/entitlements.plist --sign "$identity" "$app"
codesign --verify --deep --strict "$app"

dmg=dist/Hearth-$version-macos-$arch.dmg
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
hdiutil create -volname "Hearth $version" -srcfolder "$staging" -ov -format UDZO "$dmg"
if [ "$identity" != - ]; then
    codesign --force --timestamp --sign "$identity" "$dmg"
fi
if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
fi

# The packaged command line works from the bundle, like the smoke test on Linux.
"$app/Contents/MacOS/hearth" --version
echo "built $dmg"
