// Run the pymeld CLI inside Pyodide under Node, from local wheels only (no CDN).
//
//   node run_pymeld.mjs PYODIDE_DIR WHEEL_DIR WORK_DIR [--simulate-cpus N] -- ARGS...
//
// PYODIDE_DIR is an installed npm `pyodide` package (it carries the interpreter and the
// standard library); every *.whl in WHEEL_DIR (pymeld and its pure-Python dependencies) goes
// on sys.path as is (zipimport); WORK_DIR is mounted at /work and is the current directory,
// so ARGS name files relative to it. `--simulate-cpus N` makes os.cpu_count() report N and
// drops pymeld's parallel threshold to 0, as on a browser reporting several cores, so the
// parallel decision in pymeld.merge.bodies is exercised on a small input.
// Exit status: pymeld's. One line on stderr: "pyodide-seconds <time inside Python>".
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
const [pyodideDir, wheelDir, workDir, ...opts] = argv.slice(0, sep);
const args = argv.slice(sep + 1);
const cpus = opts[0] === "--simulate-cpus" ? Number(opts[1]) : 0;

const { loadPyodide } = await import(pathToFileURL(resolve(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ indexURL: resolve(pyodideDir) + "/" });
const mount = (host, at) => {
  py.FS.mkdirTree(at);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: resolve(host) }, at);
};
mount(wheelDir, "/wheels");
mount(workDir, "/work");
const wheels = readdirSync(wheelDir).filter((f) => f.endsWith(".whl")).sort();
py.globals.set("wheels", py.toPy(wheels.map((f) => "/wheels/" + f)));
py.globals.set("args", py.toPy(args));
py.globals.set("cpus", cpus);
const t0 = performance.now();
const code = py.runPython(`
import os, sys
sys.path[:0] = list(wheels)
os.chdir("/work")
if cpus:
    os.cpu_count = lambda: cpus
    import pymeld.merge.bodies as _bodies
    _bodies.PARALLEL_MIN_BYTES = 0
from pymeld.cli import main
try:
    main(list(args))
except SystemExit as e:
    rc = e.code if isinstance(e.code, int) else 1
rc
`);
console.error(`pyodide-seconds ${((performance.now() - t0) / 1000).toFixed(3)}`);
process.exit(code);
