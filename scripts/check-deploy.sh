#!/usr/bin/env bash
# Validates every file under deploy/ (and the Dockerfile's structure) without the tools they deploy with:
#   systemd units   systemd-analyze verify (Debian systemd), any warning is a failure
#   compose files   docker-compose config -q (Debian docker-compose 1.29)
#   Kubernetes      every manifest against the API schema (npm kubernetes-models: types, enums, formats,
#                   required fields), plus unknown fields rejected (each document type-checked as an object
#                   literal of kubernetes-models' TypeScript interface: excess properties are errors)
#   Terraform       every .tf parsed as HCL2 (npm @cdktf/hcl2json); per module folder every var.X declared,
#                   every variable and local used, every local/resource/data/module reference resolved, and
#                   module calls checked against the called module's variables and outputs. No terraform
#                   binary is available here: `terraform validate` (provider schemas) has NOT run.
#   other YAML      parsed (deploy/compose/dbkeep.yaml and any other .yaml/.yml not covered above)
# Exits 1 naming each broken file. The npm validators are installed once into $DBKEEP_DEPLOY_TOOLS_DIR.
#   bash scripts/check-deploy.sh [DEPLOY_DIR]        # default: deploy/ of this repository
#   bash scripts/check-deploy.sh --self-test         # breaks a copy of one file of each kind: each must fail
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --self-test ]; then
  # Each case: a file under deploy/, a sed expression that breaks it, and what the failure must name.
  cases=(
    "systemd/dbkeep.service|s/^Type=oneshot/Type=oneshoot/|dbkeep.service"
    "systemd/dbkeep.timer|s/^OnCalendar=hourly/OnCalender=hourly/|dbkeep.timer"
    "compose/docker-compose.yml|s/^  dbkeep:/  dbkeep:\n    bogus_key: 1/|docker-compose.yml"
    "kubernetes/cronjob.yaml|s/concurrencyPolicy: Forbid/concurrencyPolicy: Never/|cronjob.yaml"
    "kubernetes/cronjob.yaml|s/ttlSecondsAfterFinished/ttlSecondAfterFinished/|cronjob.yaml"
    "terraform/ecs/iam.tf|s/aws_iam_role.execution.name/aws_iam_role.executor.name/|iam.tf"
    "terraform/ecs/main.tf|s/var.log_retention_days/var.log_retention/|main.tf"
    "terraform/ecs/outputs.tf|\$a output \"x\" {|outputs.tf"
    "terraform/ecs/examples/scheduled/main.tf|s/bucket_prefix   = /bucket_prefx    = /|scheduled/main.tf"
    "compose/dbkeep.yaml|s/^targets:/targets: [/|dbkeep.yaml"
    "monitoring/dbkeep.rules.yml|s/seconds) > max by (target) (dbkeep_last_success/seconds) < max by (target) (dbkeep_last_success/|dbkeep.rules.test.yml"
    "monitoring/dbkeep.rules.yml|s/8 \\* 86400/8 * 3600/|dbkeep.rules.test.yml"
    "monitoring/dbkeep.rules.yml|s/dbkeep_running/dbkeep_runing/|dbkeep_runing"
    "monitoring/grafana-dashboard.json|s/dbkeep_last_size_bytes/dbkeep_last_sizes_bytes/|dbkeep_last_sizes_bytes"
    "monitoring/grafana-dashboard.json|s/increase(dbkeep_failures_total/increase(dbkeep_failures_total{/|grafana-dashboard.json"
  )
  T=$(mktemp -d /tmp/dbkeep-check-deploy-self.XXXXXX)
  trap 'rm -rf "$T"' EXIT
  ok=0
  bash "$0" deploy >"$T/clean.log" 2>&1 || { cat "$T/clean.log" >&2; echo "self-test: the unbroken deploy/ fails" >&2; exit 1; }
  for c in "${cases[@]}"; do
    IFS='|' read -r file expr expect <<<"$c"
    rm -rf "$T/deploy"; cp -r deploy "$T/deploy"
    sed -i "$expr" "$T/deploy/$file"
    cmp -s "deploy/$file" "$T/deploy/$file" && { echo "self-test: $expr did not change $file" >&2; exit 1; }
    if bash "$0" "$T/deploy" >"$T/out.log" 2>&1; then
      echo "self-test: NOT detected: $file broken by $expr" >&2; ok=1
    elif ! grep FAIL "$T/out.log" | grep -q -- "$expect" && ! grep -v '^check-deploy: ok' "$T/out.log" | grep -q -- "$expect"; then
      cat "$T/out.log" >&2; echo "self-test: failed without naming $expect" >&2; ok=1
    else
      echo "self-test: detected $file ($expr): $(grep -v -e '^check-deploy: ok' -e ' ok$' -e '0 problems' "$T/out.log" | grep -m1 -- "$expect" | cut -c1-200)" >&2
    fi
  done
  exit $ok
fi
DEPLOY=$(realpath "${1:-deploy}")
TOOLS=${DBKEEP_DEPLOY_TOOLS_DIR:-/opt/dbkeep-test/deploy-validators}
t0=$(date +%s)
fail=0
say() { echo "check-deploy: $*" >&2; }
bad() { say "FAIL: $*"; fail=1; }

for p in systemd-analyze docker-compose node npm; do
  command -v "$p" >/dev/null || { say "$p missing: apt-get install systemd docker-compose nodejs npm"; exit 2; }
done

# --- npm validators, pinned, installed once
if [ ! -f "$TOOLS/node_modules/kubernetes-models/package.json" ] || [ ! -f "$TOOLS/node_modules/@cdktf/hcl2json/package.json" ] ||
  [ ! -f "$TOOLS/node_modules/yaml/package.json" ] || [ ! -f "$TOOLS/node_modules/typescript/package.json" ]; then
  say "installing validators into $TOOLS"
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install -s --no-audit --no-fund kubernetes-models@5.1.0 @cdktf/hcl2json@0.21.0 yaml@2.9.1 typescript@5.9.3 >/dev/null 2>&1) ||
    { say "npm install of the validators failed"; exit 2; }
fi
W=$(mktemp -d /tmp/dbkeep-check-deploy.XXXXXX)
trap 'rm -rf "$W"' EXIT
# ES modules resolve packages from their own folder: the checkers live in $TOOLS, written at each run.
CHK=$TOOLS/.check-$$
mkdir -p "$CHK"
trap 'rm -rf "$W" "$CHK"' EXIT

# --- systemd: ExecStart names /usr/bin/dbkeep, which may not be installed here; verify copies whose
# ExecStart points at a stub in the temp dir (nothing is created outside it). `--man=no`: the man page
# comes with the .deb.
units=()
while IFS= read -r -d '' u; do units+=("$u"); done < <(find "$DEPLOY" -type f \( -name '*.service' -o -name '*.timer' -o -name '*.socket' -o -name '*.path' \) -print0 | sort -z)
if [ "${#units[@]}" -gt 0 ]; then
  mkdir -p "$W/units"
  printf '#!/bin/sh\nexit 0\n' >"$W/dbkeep-stub" && chmod +x "$W/dbkeep-stub"
  for u in "${units[@]}"; do sed "s#/usr/bin/dbkeep#$W/dbkeep-stub#g" "$u" >"$W/units/$(basename "$u")"; done
  for u in "${units[@]}"; do
    b=$(basename "$u")
    out=$(cd "$W/units" && systemd-analyze verify --man=no "./$b" 2>&1) && rc=0 || rc=$?
    # systemd-analyze exits 0 on "Unknown key ..., ignoring" and bad values: any output is a failure.
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then bad "${u#"$PWD"/}: ${out//$W\/units\//}"; else say "ok ${u#"$PWD"/}"; fi
  done
fi

# --- compose
while IFS= read -r -d '' f; do
  out=$(cd "$(dirname "$f")" && docker-compose -f "$(basename "$f")" config -q 2>&1) && rc=0 || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then bad "${f#"$PWD"/}: $out"; else say "ok ${f#"$PWD"/}"; fi
done < <(find "$DEPLOY" -type f \( -name 'docker-compose*.yml' -o -name 'docker-compose*.yaml' -o -name 'compose.yml' -o -name 'compose.yaml' \) -print0 | sort -z)

# --- Kubernetes: every YAML under a kubernetes/ folder
cat >"$CHK/k8s.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length) { console.error(`${file}: ${doc.errors[0].message}`); failed++; continue; }
    const obj = doc.toJS();
    if (obj == null) continue;
    const { apiVersion, kind } = obj;
    if (!apiVersion || !kind) { console.error(`${file}: a document without apiVersion/kind`); failed++; continue; }
    let mod;
    try { mod = await import(`kubernetes-models/${apiVersion}`); }
    catch { console.error(`${file}: unknown apiVersion ${apiVersion}`); failed++; continue; }
    const Cls = mod[kind];
    if (!Cls) { console.error(`${file}: unknown kind ${kind} in ${apiVersion}`); failed++; continue; }
    try { new Cls(obj).validate(); console.log(`${file}: ${apiVersion} ${kind} ${obj.metadata?.name} ok`); }
    catch (e) { console.error(`${file}: ${kind} ${obj.metadata?.name}: ${e.message}`); failed++; }
  }
}
process.exit(failed ? 1 : 0);
JS
cat >"$CHK/k8s-strict.mjs" <<'JS'
// Unknown fields: each document becomes a TypeScript object literal typed with kubernetes-models' interface
// I<Kind>, so the compiler's excess-property check rejects any field the API schema does not define.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import ts from 'typescript';
const lines = [], origin = [];
let n = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const obj = doc.toJS();
    if (!obj?.apiVersion || !obj?.kind) continue;
    lines.push(`import type { I${obj.kind} as T${n} } from "kubernetes-models/${obj.apiVersion}/${obj.kind}";`);
    lines.push(`export const doc${n}: T${n} = ${JSON.stringify(obj, null, 1)};`);
    origin.push({ file, kind: obj.kind, name: obj.metadata?.name });
    n++;
  }
}
const src = join(process.cwd(), 'docs.ts');
writeFileSync(src, lines.join('\n') + '\n');
const program = ts.createProgram([src], { noEmit: true, strict: true, skipLibCheck: true,
  module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, target: ts.ScriptTarget.ES2022 });
const diags = ts.getPreEmitDiagnostics(program);
const text = readFileSync(src, 'utf8');
for (const d of diags) {
  let where = '';
  if (d.start !== undefined) {
    const m = [...text.slice(0, d.start).matchAll(/export const doc(\d+)/g)].pop();
    if (m) where = `${origin[+m[1]].file}: ${origin[+m[1]].kind} ${origin[+m[1]].name}: `;
  }
  console.error(where + ts.flattenDiagnosticMessageText(d.messageText, ' '));
}
process.exit(diags.length ? 1 : 0);
JS
k8s=()
while IFS= read -r -d '' f; do k8s+=("$f"); done < <(find "$DEPLOY" -type f -path '*/kubernetes/*' \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)
if [ "${#k8s[@]}" -gt 0 ]; then
  if ! (cd "$CHK" && node k8s.mjs "${k8s[@]}") 2>&1 | sed "s#^$PWD/##; s#^#check-deploy: kubernetes: #" >&2; then
    bad "Kubernetes manifests do not match the API schema (above)"
  fi
  if ! (cd "$CHK" && node k8s-strict.mjs "${k8s[@]}") 2>&1 | sed "s#^$PWD/##; s#^#check-deploy: kubernetes: #" >&2; then
    bad "Kubernetes manifests have fields the API does not define (above)"
  fi
fi

# --- Terraform
cat >"$CHK/tf.mjs" <<'JS'
import { parse } from '@cdktf/hcl2json';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
const errors = [];
const cache = new Map();
const RES = /^(aws|random|null|tls|archive|local|time|terraform|http|external|cloudinit|template)_[a-z0-9_]+$/;
const rel = p => p.replace(process.env.REPO_ROOT + '/', '');

async function loadModule(dir) {
  dir = resolve(dir);
  if (cache.has(dir)) return cache.get(dir);
  const m = { dir, files: [], vars: new Map(), locals: new Set(), resources: new Set(), data: new Set(),
              modules: new Map(), outputs: new Set(), refs: [] };
  cache.set(dir, m);
  for (const f of readdirSync(dir).filter(f => f.endsWith('.tf')).sort()) {
    const path = join(dir, f);
    let j;
    try { j = await parse(path, readFileSync(path, 'utf8')); }
    catch (e) { errors.push(`${rel(path)}: HCL parse error: ${String(e.message ?? e).split('\n')[0]}`); continue; }
    m.files.push(path);
    for (const [name, blocks] of Object.entries(j.variable ?? {})) {
      m.vars.set(name, { file: path, required: !blocks.some(b => 'default' in b) });
      collect(blocks, m, path, `variable.${name}`);
    }
    for (const block of j.locals ?? []) for (const k of Object.keys(block)) m.locals.add(k);
    for (const [type, byName] of Object.entries(j.resource ?? {})) for (const name of Object.keys(byName)) m.resources.add(`${type}.${name}`);
    for (const [type, byName] of Object.entries(j.data ?? {})) for (const name of Object.keys(byName)) m.data.add(`${type}.${name}`);
    for (const [name, blocks] of Object.entries(j.module ?? {})) m.modules.set(name, { file: path, block: blocks[0] });
    for (const name of Object.keys(j.output ?? {})) m.outputs.add(name);
    for (const [key, value] of Object.entries(j)) if (key !== 'variable') collect(value, m, path, key);
  }
  return m;
}

function collect(node, m, file, where, key = '') {
  if (typeof node === 'string') {
    if (key === 'description' || key === 'error_message') return;
    const text = node.replace(/\$\$\{/g, '');  // $${ is a literal "${"
    for (const r of text.matchAll(/(?<![\w.])(var|local|data|module)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?/g)) {
      m.refs.push({ file, where, kind: r[1], a: r[2], b: r[3] });
    }
    for (const r of text.matchAll(/(?<![\w.])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)/g)) {
      if (RES.test(r[1])) m.refs.push({ file, where, kind: 'resource', a: r[1], b: r[2] });
    }
  } else if (Array.isArray(node)) {
    for (const x of node) collect(x, m, file, where, key);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) collect(v, m, file, where, k);
  }
}

async function check(dir) {
  const m = await loadModule(dir);
  const used = new Set();
  for (const r of m.refs) {
    const at = `${rel(r.file)} (${r.where})`;
    if (r.kind === 'var') {
      if (!m.vars.has(r.a)) errors.push(`${at}: var.${r.a} is not declared`);
      if (r.where !== `variable.${r.a}`) used.add(r.a);
    } else if (r.kind === 'local') {
      if (!m.locals.has(r.a)) errors.push(`${at}: local.${r.a} is not declared`);
      else used.add(`local.${r.a}`);
    } else if (r.kind === 'data') {
      if (!m.data.has(`${r.a}.${r.b}`)) errors.push(`${at}: data.${r.a}.${r.b} is not declared`);
    } else if (r.kind === 'module') {
      const call = m.modules.get(r.a);
      if (!call) { errors.push(`${at}: module.${r.a} is not declared`); continue; }
      if (r.b && typeof call.block.source === 'string' && call.block.source.startsWith('.')) {
        const child = await loadModule(join(m.dir, call.block.source));
        if (!child.outputs.has(r.b)) errors.push(`${at}: module.${r.a}.${r.b}: ${call.block.source} has no output "${r.b}"`);
      }
    } else if (r.kind === 'resource') {
      if (!m.resources.has(`${r.a}.${r.b}`)) errors.push(`${at}: resource ${r.a}.${r.b} is not declared`);
    }
  }
  for (const [name, v] of m.vars) if (!used.has(name)) errors.push(`${rel(v.file)}: variable "${name}" is declared but never used`);
  for (const name of m.locals) if (!used.has(`local.${name}`)) errors.push(`${rel(m.dir)}: local "${name}" is declared but never used`);
  const meta = new Set(['source', 'version', 'providers', 'count', 'for_each', 'depends_on']);
  for (const [name, call] of m.modules) {
    const src = call.block.source;
    if (typeof src !== 'string' || !src.startsWith('.')) continue;
    const childDir = join(m.dir, src);
    if (!existsSync(childDir)) { errors.push(`${rel(call.file)}: module "${name}": source ${src} does not exist`); continue; }
    const child = await loadModule(childDir);
    for (const arg of Object.keys(call.block)) {
      if (!meta.has(arg) && !child.vars.has(arg)) errors.push(`${rel(call.file)}: module "${name}": ${src} has no variable "${arg}"`);
    }
    for (const [v, d] of child.vars) {
      if (d.required && !(v in call.block)) errors.push(`${rel(call.file)}: module "${name}": required variable "${v}" not set`);
    }
  }
  return m.files.length;
}

function tfDirs(root, out = []) {
  const entries = readdirSync(root);
  if (entries.some(e => e.endsWith('.tf'))) out.push(root);
  for (const e of entries) if (!e.startsWith('.') && statSync(join(root, e)).isDirectory()) tfDirs(join(root, e), out);
  return out;
}

let files = 0;
const dirs = process.argv.slice(2).flatMap(d => tfDirs(d));
for (const d of dirs) files += await check(d);
for (const e of errors) console.error(e);
console.error(`${files} .tf files in ${dirs.length} module folders: ${errors.length} problems`);
process.exit(errors.length ? 1 : 0);
JS
if find "$DEPLOY" -name '*.tf' | grep -q .; then
  repo=$PWD
  if ! (cd "$CHK" && REPO_ROOT=$repo node tf.mjs "$DEPLOY") 2>&1 | sed "s#^#check-deploy: terraform: #" >&2; then
    bad "Terraform (above); terraform validate itself has not run"
  fi
fi

# --- Prometheus rules and Grafana dashboards (deploy/monitoring): promtool checks the rules and runs their unit
# tests; every dashboard query is checked as PromQL by promtool (as a recording rule, Grafana's $variables
# replaced); every dbkeep_* metric named in either must be one dbkeep writes (src/observe/metrics.cpp).
known_metrics=$(grep -o '"dbkeep_[a-z_]*' src/observe/metrics.cpp | tr -d '"' | sort -u)
check_names() { # FILE TEXT: every dbkeep_* name in TEXT is known
  local name
  for name in $(grep -o 'dbkeep_[a-z_]*' <<<"$2" | sort -u); do
    grep -qx "$name" <<<"$known_metrics" || bad "${1#"$PWD"/}: metric $name is not one dbkeep writes (src/observe/metrics.cpp)"
  done
}
mon_files=$(find "$DEPLOY" -type f \( -name '*.rules.yml' -o -name '*.rules.test.yml' -o -name '*dashboard*.json' \) | sort)
if [ -n "$mon_files" ]; then
  command -v promtool >/dev/null || { say "promtool missing: apt-get install prometheus"; exit 2; }
fi
while IFS= read -r f; do
  [ -n "$f" ] || continue
  case "$f" in
    *.rules.test.yml)
      if out=$(cd "$(dirname "$f")" && promtool test rules "$(basename "$f")" 2>&1); then say "ok ${f#"$PWD"/} (rule unit tests)"
      else bad "${f#"$PWD"/}: promtool test rules: $(grep -v '^ *$' <<<"$out" | head -40)"; fi ;;
    *.rules.yml)
      if out=$(promtool check rules "$f" 2>&1); then say "ok ${f#"$PWD"/}"; else bad "${f#"$PWD"/}: $out"; fi
      check_names "$f" "$(grep -E '^\s*expr:' "$f")" ;;
    *.json)
      if ! exprs=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
def walk(p):
    for t in p.get("targets",[]): print(t["expr"])
    for q in p.get("panels",[]): walk(q)
for p in d["panels"]: walk(p)
for v in d.get("templating",{}).get("list",[]):
    q=v.get("query"); print(q if isinstance(q,str) and not q.startswith("label_values") else "vector(1)")' "$f" 2>&1); then
        bad "${f#"$PWD"/}: not a dashboard: $exprs"; continue
      fi
      rules="$W/$(basename "$f").rules.yml"
      { echo "groups: [{name: dashboard, rules: ["; i=0
        while IFS= read -r e; do
          e=${e//\$__range/1d}; e=${e//\$__interval/1m}; e=${e//\$__rate_interval/5m}; e=${e//\$target/.*}
          printf '{record: panel_%d, expr: %s},\n' $((i++)) "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$e")"
        done <<<"$exprs"; echo "]}]"; } >"$rules"
      if out=$(promtool check rules "$rules" 2>&1); then say "ok ${f#"$PWD"/} ($(wc -l <<<"$exprs") queries)"
      else bad "${f#"$PWD"/}: a query is not valid PromQL: $out"; fi
      check_names "$f" "$exprs" ;;
  esac
done <<<"$mon_files"

# --- any other YAML parses
cat >"$CHK/yaml.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
let failed = 0;
for (const f of process.argv.slice(2)) {
  for (const d of parseAllDocuments(readFileSync(f, 'utf8'))) {
    if (d.errors.length) { console.error(`${f}: ${d.errors[0].message}`); failed++; }
  }
}
process.exit(failed ? 1 : 0);
JS
other=()
while IFS= read -r -d '' f; do other+=("$f"); done < <(find "$DEPLOY" -type f \( -name '*.yaml' -o -name '*.yml' \) -not -path '*/kubernetes/*' -print0 | sort -z)
if [ "${#other[@]}" -gt 0 ]; then
  if ! (cd "$CHK" && node yaml.mjs "${other[@]}") 2>&1 | sed "s#^$PWD/##; s#^#check-deploy: yaml: #" >&2; then
    bad "YAML syntax (above)"
  fi
fi

# --- files no validator covers are an error too: a new kind of file needs a checker here
while IFS= read -r -d '' f; do
  case "$f" in
    *.service | *.timer | *.socket | *.path | *.yaml | *.yml | *.tf | */monitoring/*dashboard*.json) ;;
    *) bad "${f#"$PWD"/}: no validator for this kind of file (scripts/check-deploy.sh)" ;;
  esac
done < <(find "$DEPLOY" -type f -print0)

if [ "$fail" -ne 0 ]; then say "FAILED ($(($(date +%s) - t0)) s)"; exit 1; fi
say "all deploy files valid ($(($(date +%s) - t0)) s)"
