'use strict';

// Compiles the bytecode of every Python module in the Lambda zip (api/ and each dependency) for the
// runtime's CPython, after serverless-python-requirements has added the dependencies. Without it
// every cold start compiles numpy, Pillow and api/ from source, since Lambda's /var/task is
// read-only and the packager ships no .pyc (`--no-compile`, `slim`). The work is done by
// compile_bytecode.py, run by that CPython; it writes hash-based .pyc files, because the packager
// gives every zip entry the same fixed date, which timestamp-checked .pyc files would not trust.
//
// serverless.yml:  plugins: [serverless-python-requirements, ./plugins/compile-bytecode]
//   custom.bytecode.pythonVersion: the Lambda's Python (default: the provider's runtime, e.g. 3.12)
//   custom.bytecode.python: an interpreter of that version (default: the first of python3.12 on
//     PATH and ~/.pyenv/versions/3.12.*/bin/python3.12 that runs and is that version)

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

function findPython(configured, version) {
  const pyenv = path.join(os.homedir(), '.pyenv', 'versions');
  const candidates = configured ? [configured] : [`python${version}`];
  if (!configured && fs.existsSync(pyenv)) {
    for (const dir of fs.readdirSync(pyenv).sort().reverse()) {
      if (dir.startsWith(`${version}.`)) candidates.push(path.join(pyenv, dir, 'bin', `python${version}`));
    }
  }
  const probe = 'import sys; print("%d.%d" % sys.version_info[:2])';
  for (const candidate of candidates) {
    const run = spawnSync(candidate, ['-c', probe], { encoding: 'utf-8' });
    if (!run.error && run.status === 0 && run.stdout.trim() === version) return candidate;
  }
  return null;
}

class CompileBytecode {
  constructor(serverless) {
    this.serverless = serverless;
    // Listed after serverless-python-requirements, so this runs after its requirements injection.
    this.hooks = { 'after:package:createDeploymentArtifacts': () => this.compile() };
  }

  compile() {
    const service = this.serverless.service;
    const options = (service.custom && service.custom.bytecode) || {};
    const version = String(options.pythonVersion || (service.provider.runtime || '').replace(/^python/, ''));
    const python = findPython(options.python, version);
    if (!python) {
      throw new this.serverless.classes.Error(
        `Compiling the bundle's bytecode needs CPython ${version} (the Lambda's): put python${version} on ` +
          'PATH or set custom.bytecode.python');
    }
    const artifacts = new Set();
    if (service.package && service.package.artifact) artifacts.add(service.package.artifact);
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      if (fn.package && fn.package.artifact) artifacts.add(fn.package.artifact);
    }
    const script = path.join(__dirname, 'compile_bytecode.py');
    for (const artifact of artifacts) {
      const zip = path.resolve(this.serverless.serviceDir, artifact);
      const run = spawnSync(python, [script, zip], { encoding: 'utf-8' });
      if (run.error || run.status !== 0) {
        const reason = run.error ? `${python}: ${run.error.message}` : (run.stderr || run.stdout).trim();
        throw new this.serverless.classes.Error(`Compiling the bundle's bytecode failed: ${reason}`);
      }
      this.serverless.cli.log(run.stdout.trim());
    }
  }
}

module.exports = CompileBytecode;
