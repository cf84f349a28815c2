#!/usr/bin/env bash
# End-to-end checks of `sdlora dataset check` on a small dataset of real images made by
# build/tests/tool_make_images, plus a zero-byte file, a truncated JPEG, a text file named
# .png and a too-small image: exit status, the listed bad files and reasons,
# --skip_bad_images, --json fields, and a config error naming file:line. Prints ok/FAIL lines.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/sdlora"
mk="$BUILD/tests/tool_make_images"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

if [ ! -x "$mk" ]; then echo "FAIL dataset cli: $mk not built (make tests)"; exit 1; fi
if ! "$bin" dataset --help >/dev/null 2>&1; then
    echo "FAIL dataset cli: the 'dataset' subcommand is not wired into $bin (add cmd_dataset to src/cli/cli.h and main.c's command table)"
    exit 1
fi

check() { # name, expected status, command... (stdout in $tmp/out, stderr in $tmp/err)
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then echo "ok $name"; else echo "FAIL $name (exit $rc, expected $want)"; cat "$tmp/out" "$tmp/err"; fails=$((fails+1)); fi
}
expect() { # name, regex that must match the last stdout+stderr
    if cat "$tmp/out" "$tmp/err" | grep -qE -- "$2"; then echo "ok $1"; else echo "FAIL $1: /$2/ not in output:"; cat "$tmp/out" "$tmp/err"; fails=$((fails+1)); fi
}
expect_not() {
    if cat "$tmp/out" "$tmp/err" | grep -qE -- "$2"; then echo "FAIL $1: /$2/ in output:"; cat "$tmp/out" "$tmp/err"; fails=$((fails+1)); else echo "ok $1"; fi
}

d="$tmp/train/5_sks dog"
mkdir -p "$d" "$tmp/reg/1_dog"
"$mk" "$d/a.png" 640 480 1 && "$mk" "$d/b.jpg" 480 640 2 && "$mk" "$d/c.PNG" 512 512 3 \
  && "$mk" "$tmp/big.jpg" 600 400 4 && "$mk" "$d/tiny.png" 32 32 5 && "$mk" "$tmp/reg/1_dog/r.png" 512 512 6 \
  || { echo "FAIL dataset cli: tool_make_images failed"; exit 1; }
: > "$d/zero.png"
head -c 1500 "$tmp/big.jpg" > "$d/trunc.jpg"
echo "this is not an image" > "$d/fake.png"
printf 'sks dog, red collar\n' > "$d/a.txt"

check "dataset: bad images fail the check" 1 "$bin" dataset check --train_data_dir "$tmp/train" --resolution 512 --enable_bucket --caption_extension .txt
expect "dataset: zero-byte file listed" "zero\.png: empty file \(0 bytes\)"
expect "dataset: truncated jpeg listed" "trunc\.jpg: .+"
expect "dataset: text file named .png listed" "fake\.png: .+"
expect "dataset: too-small image listed" "tiny\.png: too small: 32x32"
expect "dataset: count of bad images" "4 bad image\(s\)"
expect "dataset: hint for --skip_bad_images" "hint: .*--skip_bad_images"
expect_not "dataset: good images not listed as bad" "/a\.png: |/b\.jpg: |/c\.PNG: "

check "dataset: --skip_bad_images passes" 0 "$bin" dataset check --train_data_dir "$tmp/train" --reg_data_dir "$tmp/reg" --resolution 512 --enable_bucket --caption_extension .txt --skip_bad_images --train_batch_size 2
expect "dataset: subset row" "5_sks dog +7 +5 +1 +6 +no"
expect "dataset: reg subset row" "1_dog +1 +1 +0 +1 +yes"
expect "dataset: bucket 448x576 (640x480 would be 576x448)" "resolution \(576, 448\), count: 5"
expect "dataset: bucket 512x512: 1 train x5 + 1 reg balanced to the 15 good train samples (bad images not counted)" "resolution \(512, 512\), count: 20"
expect "dataset: bad images left out of the subset" "4 of them left out as bad"
expect "dataset: mean ar error" "mean ar error \(without repeats\): "
expect "dataset: batches per epoch" "total batches per epoch .*: 16"

check "dataset: --json" 0 "$bin" dataset check --train_data_dir "$tmp/train" --resolution 512 --enable_bucket --caption_extension .txt --skip_bad_images --json
expect "dataset: json bucket of a.png" '"bucket":[[:space:]]*\[576,[[:space:]]*448\]'
expect "dataset: json crop" '"crop":[[:space:]]*\[[0-9]+,[[:space:]]*[0-9]+,[[:space:]]*576,[[:space:]]*448\]'
expect "dataset: json crop_ltrb" '"crop_ltrb"'
expect "dataset: json bad image reason" '"reason":[[:space:]]*"empty file \(0 bytes\)"'
expect "dataset: json caption" '"caption":[[:space:]]*"sks dog, red collar"'
if command -v python3 >/dev/null && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null; then
    echo "ok dataset: json parses"
elif command -v python3 >/dev/null; then echo "FAIL dataset: json does not parse"; fails=$((fails+1)); fi

cat > "$tmp/ds.toml" <<TOML
[general]
enable_bucket = true
caption_extension = ".txt"

[[datasets]]
resolution = 512

  [[datasets.subsets]]
  image_dir = "$d"
  num_repeats = 3
  flip_augment = true
TOML
check "dataset: config unknown key fails" 1 "$bin" dataset check --dataset_config "$tmp/ds.toml"
expect "dataset: unknown key names file:line" "unknown key 'flip_augment' in \[datasets.subsets\] at .*ds\.toml:11"
expect "dataset: unknown key hint" "did you mean 'flip_aug'"
sed -i 's/flip_augment/flip_aug/' "$tmp/ds.toml"
check "dataset: config mode" 0 "$bin" dataset check --dataset_config "$tmp/ds.toml" --skip_bad_images
expect "dataset: config repeats" "5_sks dog +7 +3 "

exit $((fails > 0))
