#!/bin/sh
# verify-deliveries.sh: check downloaded audit log deliveries offline.
#
#   sh verify-deliveries.sh signing-key.pem DIR
#
# signing-key.pem is the signing key's public half ("PUBLIC KEY" PEM);
# DIR holds the destination's objects as `aws s3 sync s3://BUCKET/PREFIX/
# DIR/` or azcopy downloads them (flat, or under date=YYYY-MM-DD/). It
# needs openssl, sha256sum (else `openssl dgst -sha256`), awk, sort, find.
#
# For every *.manifest.json under DIR it checks:
#   - the signature beside it (X.manifest.json.sig) verifies its exact
#     bytes with the key (openssl dgst -sha256 -verify);
#   - it is in the manifest layout, read line by line (values checked
#     for their form: hex digests, numbers, times, days), and names the
#     given key's fingerprint (SHA-256 of its DER SubjectPublicKeyInfo);
#   - its name is the one of the file it describes, and that file, in
#     the same folder, has the manifest's size and SHA-256.
# Then, per org, over the manifests it could read and the superseded
# versions of a redelivered day that their "supersedes.history" vouches
# for (a redelivery overwrites the day's manifest, which later manifests
# still link to), that the chain of "previous" links is one line: every
# link resolves to a version of that SHA-256 and key, no version is the
# previous of two (a fork), exactly one has no previous (the first), and
# all are reached from the newest manifest (by delivered_at). And that
# no day between the org's first and last day lacks a manifest.
#
# It does the checks of `auditctl files verify` and names problems as
# it does: one line each, "KIND PATH: what is wrong", PATH relative to
# DIR (for day_missing, the day). Nothing offline can tell that the
# newest deliveries were deleted: compare the last day with what you
# expect. Exit status: 0 no problem, 1 problems, 2 usage or tool error.

set -u
LC_ALL=C
export LC_ALL

die() { echo "verify-deliveries: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: sh verify-deliveries.sh signing-key.pem DIR"
key=$1
dir=$2
[ -f "$key" ] || die "no key file $key"
[ -d "$dir" ] || die "no folder $dir"
command -v openssl >/dev/null 2>&1 || die "openssl is not installed"
while [ "$dir" != / ] && [ "${dir%/}" != "$dir" ]; do dir=${dir%/}; done
base=$dir/
[ "$dir" = / ] && base=/

if command -v sha256sum >/dev/null 2>&1; then
	sha256_of() { sha256sum | awk '{ print $1 }'; }
else
	sha256_of() { openssl dgst -sha256 | awk '{ print $NF }'; }
fi

tmp=$(mktemp -d) || die "cannot make a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
tab=$(printf '\t')
: >"$tmp/problems"
: >"$tmp/nodes"
problem() { printf 'P\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$tmp/problems"; }

openssl pkey -pubin -in "$key" -outform DER >"$tmp/key.der" 2>/dev/null ||
	die "$key is not a PUBLIC KEY PEM file"
fpr=$(sha256_of <"$tmp/key.der")

# Days as numbers (days since 1970-01-01) and back, for the gaps.
dates='
function dn(s,   y, m, d, era, yoe, doy) {
	y = substr(s, 1, 4) + 0; m = substr(s, 6, 2) + 0; d = substr(s, 9, 2) + 0
	if (m <= 2) y -= 1
	era = int(y / 400); yoe = y - era * 400
	doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
	return era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
}
function ds(z,   era, doe, yoe, y, doy, mp, d, m) {
	z += 719468; era = int(z / 146097); doe = z - era * 146097
	yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
	y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
	mp = int((5 * doy + 2) / 153); d = doy - int((153 * mp + 2) / 5) + 1
	m = mp < 10 ? mp + 3 : mp - 9
	if (m <= 2) y++
	return sprintf("%04d-%02d-%02d", y, m, d)
}
'

# parse reads a manifest in the layout of internal/manifest.Encode and
# prints one "m" record (org, day, file key, bytes, sha256, delivered_at,
# previous sha256 and key, fingerprint, manifest name of the file key,
# file name, supersedes key), then an "h" record per superseded version (sha256, previous
# sha256 and key); "-" for null. Out of layout, it prints the line and
# exits 1. Strings escape only '"'; nothing holds a backslash or a control character.
parse='
function fail(why) { printf "line %d: %s\n", i, why; exit 1 }
function nextline() { if (++i > NR) fail("the manifest ends early"); return L[i] }
function lit(s) { if (nextline() != s) fail("expected " s) }
function field(indent, name, comma,   l, p, v) {
	l = nextline(); p = indent "\"" name "\": "
	if (substr(l, 1, length(p)) != p) fail("expected the field " name)
	v = substr(l, length(p) + 1)
	if (comma == ",") {
		if (substr(v, length(v)) != ",") fail(name " lacks its comma")
		v = substr(v, 1, length(v) - 1)
	}
	return v
}
function num(indent, name, comma,   v) {
	v = field(indent, name, comma)
	if (v !~ /^(0|[1-9][0-9]*)$/) fail(name " is not a number")
	return v
}
function unq(v, name,   s) {
	if (length(v) < 2 || substr(v, 1, 1) != "\"" || substr(v, length(v)) != "\"") fail(name " is not a string")
	v = substr(v, 2, length(v) - 2); s = v; gsub(/\\"/, "", s)
	if (s ~ /["\\]/ || s ~ /[[:cntrl:]]/) fail(name " holds a character the layout does not allow")
	gsub(/\\"/, "\"", v)
	return v
}
function str(indent, name, comma) { return unq(field(indent, name, comma), name) }
function hex(v, name) { if (length(v) != 64 || v !~ /^[0-9a-f]+$/) fail(name " is not a SHA-256"); return v }
function tm(v, name) {
	if (v !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9][.][0-9][0-9][0-9]Z$/) fail(name " is not a UTC time")
	return v
}
function ntime(name,   v) { v = field("  ", name, ","); if (v != "null") tm(unq(v, name), name); return v }
function mkey(v, name) { if (v !~ /[.]manifest[.]json$/) fail(name " is not a manifest key"); return v }
{ L[NR] = $0; size += length($0) + 1 }
END {
	if (size != bytes) { i = NR; fail("the manifest does not end in a newline") }
	lit("{")
	if (num("  ", "manifest_version", ",") != "1") fail("manifest_version is not 1, the version this script reads")
	num("  ", "schema_version", ",")
	org = str("  ", "org_id", ",")
	if (org !~ /^[A-Za-z0-9][A-Za-z0-9_-]+$/ || length(org) > 64) fail("org_id is not an org ID")
	day = str("  ", "day", ",")
	if (day !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/ || ds(dn(day)) != day) fail("day is not a date")
	lit("  \"file\": {")
	fkey = str("    ", "key", ",")
	fmt = str("    ", "format", ",")
	if (fmt !~ /^(csv|csv[.]gz|jsonl[.]gz|parquet)$/) fail("format is not a delivered format")
	if (substr(fkey, length(fkey) - length(fmt)) != "." fmt) fail("file key does not end in ." fmt)
	fbytes = num("    ", "bytes", ",")
	fsha = hex(str("    ", "sha256", ","), "file sha256")
	rows = num("    ", "rows", "")
	lit("  },")
	ft = ntime("first_event_time"); lt = ntime("last_event_time")
	if ((ft == "null") != (lt == "null") || (ft == "null") != (rows == "0")) fail("event times must be null exactly when the file has no rows")
	dlv = tm(str("  ", "delivered_at", ","), "delivered_at")
	psha = "-"; pkey = "-"
	if (L[i + 1] == "  \"previous\": null,") i++
	else {
		lit("  \"previous\": {")
		pkey = mkey(str("    ", "key", ","), "previous key"); psha = hex(str("    ", "sha256", ""), "previous sha256")
		lit("  },")
	}
	nh = 0; skey = "-"
	if (L[i + 1] == "  \"supersedes\": null,") i++
	else {
		lit("  \"supersedes\": {")
		skey = mkey(str("    ", "key", ","), "supersedes key"); ssha = hex(str("    ", "sha256", ","), "supersedes sha256")
		lit("    \"history\": [")
		while (i + 1 <= NR && L[i + 1] != "    ]") {
			l = nextline(); nh++
			if (L[i + 1] != "    ]") {
				if (substr(l, length(l)) != ",") fail("history version lacks its comma")
				l = substr(l, 1, length(l) - 1)
			}
			p = "      {\"sha256\": \""
			if (substr(l, 1, length(p)) != p) fail("expected a history version")
			H[nh] = hex(substr(l, length(p) + 1, 64), "history sha256")
			r = substr(l, length(p) + 65)
			if (r == "\", \"previous\": null}") { HS[nh] = "-"; HK[nh] = "-"; continue }
			q = "\", \"previous\": {\"key\": \""
			if (substr(r, 1, length(q)) != q || length(r) < length(q) + 82) fail("expected a history version")
			r = substr(r, length(q) + 1); t = substr(r, length(r) - 80)
			if (substr(t, 1, 14) != "\", \"sha256\": \"" || substr(t, 79) != "\"}}") fail("expected a history version")
			HS[nh] = hex(substr(t, 15, 64), "history previous sha256")
			HK[nh] = mkey(unq("\"" substr(r, 1, length(r) - 81) "\"", "history previous key"), "history previous key")
		}
		lit("    ]")
		lit("  },")
		if (nh == 0 || H[nh] != ssha) fail("the history does not end with the superseded version")
	}
	kfpr = hex(str("  ", "signing_key_fingerprint", ","), "signing_key_fingerprint")
	if (str("  ", "signature_algorithm", "") != "RSASSA_PKCS1_V1_5_SHA_256") fail("signature_algorithm is not RSASSA_PKCS1_V1_5_SHA_256")
	lit("}")
	if (i != NR) { i++; fail("data after the manifest") }
	name = substr(fkey, 1, length(fkey) - length(fmt) - 1) ".manifest.json"
	file = fkey; sub(/.*\//, "", file)
	printf "m\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", org, day, fkey, fbytes, fsha, dlv, psha, pkey, kfpr, name, file, skey
	for (j = 1; j <= nh; j++) printf "h\t%s\t%s\t%s\n", H[j], HS[j], HK[j]
}
'

# chain reads the versions (p: a manifest in DIR, h: a version one
# vouches for): src, org, sha256, key, previous sha256 and key, the
# manifest's path, delivered_at, day. It prints the chain's and the
# days' problems ("P" records) and each org's summary ("S").
chain='
function problem(k, key, d) { print "P", k, key, d }
function what(id) { return pres[id] ? "this manifest" : "the superseded version " sha[id] " of " key[id] " (which this manifest vouches for)" }
function What(id) { return toupper(substr(what(id), 1, 1)) substr(what(id), 2) }
function lk(s, k) { return s == "-" ? "null" : k " (SHA-256 " s ")" }
function walk(o, id,   t) {
	while (!(id in seen)) {
		seen[id] = 1
		if (psha[id] == "-") return
		t = o SUBSEP psha[id]
		if (!(t in key)) return
		id = t
	}
}
BEGIN { FS = OFS = "\t" }
{
	o = $2; id = o SUBSEP $3
	if (!(o in n)) { orgs[++no] = o; n[o] = 0; first[o] = ""; last[o] = ""; nd[o] = 0 }
	if ($1 == "p") {
		if (!((o, $9) in days)) { days[o, $9] = 1; nd[o]++ }
		if (first[o] == "" || $9 < first[o]) first[o] = $9
		if ($9 > last[o]) last[o] = $9
	}
	if (id in key) {
		if (key[id] != $4 || lk(psha[id], pkey[id]) != lk($5, $6))
			problem("chain_history", $7, "says the manifest of SHA-256 " $3 " is " $4 " with previous " lk($5, $6) ", while " at[id] " says it is " key[id] " with previous " lk(psha[id], pkey[id]))
		if ($1 == "p" && !pres[id]) { pres[id] = 1; at[id] = $7 }
	} else {
		sha[id] = $3; key[id] = $4; psha[id] = $5; pkey[id] = $6; at[id] = $7; pres[id] = ($1 == "p"); day[id] = $9
		node[o, ++n[o]] = id
	}
	if ($1 == "p" && (!(o in head) || $8 > hd[o] || ($8 == hd[o] && $7 > ha[o]))) { head[o] = id; hd[o] = $8; ha[o] = $7 }
}
END {
	for (x = 1; x <= no; x++) {
		o = orgs[x]; nr = 0; dang = 0; h = head[o]
		for (j = 1; j <= n[o]; j++) {
			id = node[o, j]
			if (psha[id] == "-") { root[++nr] = id; continue }
			t = o SUBSEP psha[id]
			if (!(t in key)) {
				dang++
				problem("chain_dangling", at[id], What(id) " names as its previous " lk(psha[id], pkey[id]) ", which is neither in the folder nor vouched for by a later manifest of its day: the chain is broken here")
				continue
			}
			if (key[t] != pkey[id]) problem("chain_link_key", at[id], What(id) " names as its previous " lk(psha[id], pkey[id]) ", but the manifest of that SHA-256 is " key[t])
			succ[t] = (nsucc[t]++ ? succ[t] ", " : "") at[id]
		}
		for (j = 1; j <= n[o]; j++) {
			id = node[o, j]
			if (nsucc[id] > 1) problem("chain_fork", at[id], What(id) " is the previous of " nsucc[id] " manifests (" succ[id] "): the chain forks here")
		}
		if (nr > 1) {
			f = root[1]
			for (j = 2; j <= nr; j++) if (day[root[j]] < day[f] || (day[root[j]] == day[f] && at[root[j]] < at[f])) f = root[j]
			for (j = 1; j <= nr; j++) if (root[j] != f)
				problem("chain_roots", at[root[j]], What(root[j]) " has no previous, as if first delivered, and so has " at[f] " of day " day[f] ": the chain starts twice")
		}
		if (nr == 0 && dang == 0) problem("chain_roots", at[h], "no manifest of org " o " has a null previous: the previous links loop")
		walk(o, h)
		for (j = 1; j <= n[o]; j++) {
			id = node[o, j]
			if (!nsucc[id] && id != h) {
				problem("chain_unreachable", at[id], "no later manifest names " what(id) " as its previous: the chain from the newest manifest, " at[h] ", does not reach it")
				walk(o, id)
			}
		}
		for (j = 1; j <= n[o]; j++) {
			id = node[o, j]
			if (!(id in seen)) problem("chain_unreachable", at[id], What(id) " is in a loop of previous links, off the chain from the newest manifest " at[h])
		}
		for (d = dn(first[o]) + 1; d < dn(last[o]); d++)
			if (!((o, ds(d)) in days))
				problem("day_missing", ds(d), "org " o " has no readable manifest for this day, between its first day " first[o] " and its last " last[o] ": the delivery or its manifest is missing")
		print "S", o, first[o], last[o], nd[o], n[o]
	}
}
'

find -H "$dir" -type f -name '*.manifest.json' | sort >"$tmp/list"
manifests=0 signatures=0 files=0
while IFS= read -r path; do
	rel=${path#"$base"}
	manifests=$((manifests + 1))
	if [ ! -r "$path" ]; then
		problem manifest_unreadable "$rel" "cannot be read"
		continue
	fi
	if [ ! -f "$path.sig" ]; then
		problem signature_missing "$rel.sig" "no signature beside $rel: nothing vouches that we wrote it"
	elif openssl dgst -sha256 -verify "$key" -signature "$path.sig" "$path" >/dev/null 2>&1; then
		signatures=$((signatures + 1))
	else
		problem signature_invalid "$rel.sig" "does not verify $rel with the given key: the manifest or its signature was changed, or another key signed it"
	fi
	size=$(wc -c <"$path" | tr -d ' ')
	if ! awk -v bytes="$size" "$dates$parse" <"$path" >"$tmp/m"; then
		problem manifest_unreadable "$rel" "$(head -n 1 "$tmp/m")"
		continue
	fi
	IFS=$tab read -r _ org day fkey fbytes fsha dlv psha pkey kfpr name file skey <"$tmp/m"
	[ "$kfpr" = "$fpr" ] ||
		problem signing_key_mismatch "$rel" "names the signing key of fingerprint $kfpr, the given key's is $fpr"
	case $name in
	"$rel" | */"$rel") ;;
	*) case $rel in
		*/"$name") ;;
		*) problem manifest_misplaced "$rel" "describes the file $fkey, whose manifest is named $name: this one was copied or renamed" ;;
		esac ;;
	esac
	case $rel in
	*/*) frel=${rel%/*}/$file ;;
	*) frel=$file ;;
	esac
	if [ ! -f "$base$frel" ]; then
		problem file_missing "$frel" "the file its manifest describes ($fbytes bytes) is not in the folder"
	else
		files=$((files + 1))
		got=$(wc -c <"$base$frel" | tr -d ' ')
		if [ "$got" != "$fbytes" ]; then
			problem file_changed "$frel" "is $got bytes, its manifest says $fbytes: the file is not the one delivered"
		else
			got=$(sha256_of <"$base$frel")
			[ "$got" = "$fsha" ] ||
				problem file_changed "$frel" "has SHA-256 $got, its manifest says $fsha: the file is not the one delivered"
		fi
	fi
	msha=$(sha256_of <"$path")
	printf 'p\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$org" "$msha" "$name" "$psha" "$pkey" "$rel" "$dlv" "$day" >>"$tmp/nodes"
	ORG=$org SKEY=$skey REL=$rel DAY=$day \
		awk 'BEGIN { FS = OFS = "\t" } $1 == "h" { print "h", ENVIRON["ORG"], $2, ENVIRON["SKEY"], $3, $4, ENVIRON["REL"], "-", ENVIRON["DAY"] }' "$tmp/m" >>"$tmp/nodes"
done <"$tmp/list"

[ "$manifests" -gt 0 ] || problem no_manifests . "the folder holds no manifest (*.manifest.json): nothing was verified"
awk "$dates$chain" "$tmp/nodes" >>"$tmp/problems"

grep "^P$tab" "$tmp/problems" | sort -t "$tab" -k3,3 -k2,2 -k4,4 >"$tmp/sorted"
count=0
while IFS=$tab read -r _ kind k detail; do
	printf '%s %s: %s\n' "$kind" "$k" "$detail"
	count=$((count + 1))
done <"$tmp/sorted"
grep "^S$tab" "$tmp/problems" | sort -t "$tab" -k2,2 | while IFS=$tab read -r _ o f l d c; do
	echo "org $o: $d days from $f to $l, $c manifests in its chain"
done
case $count in
0) found="no problems" ;;
1) found="1 problem" ;;
*) found="$count problems" ;;
esac
echo "checked $manifests manifests ($signatures signatures valid) and $files files: $found"
[ "$count" -eq 0 ]
