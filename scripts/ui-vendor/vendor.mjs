// Copy the web UI's third-party libraries from node_modules into the Python package, and record
// what was copied (package, version, sha256 of each file) in VENDORED.json beside them.
//
//   cd scripts/ui-vendor && npm ci && node vendor.mjs
//
// The copies are committed: a fresh clone runs the UI with no Node.js and nothing is fetched at
// run time. tests/server/test_ui_assets.py checks the copies against VENDORED.json.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "..", "src", "mloop", "server", "ui", "vendor");

// package -> [file in the package, name in the vendor folder]
const FILES = {
  // /docs and /redoc (src/mloop/server/_docs.py)
  redoc: [
    ["bundles/redoc.standalone.js", "redoc/redoc.standalone.js"],
    ["LICENSE", "redoc/LICENSE"],
    ["bundles/redoc.standalone.js.LICENSE.txt", "redoc/redoc.standalone.js.LICENSE.txt"],
  ],
  "swagger-ui-dist": [
    ["swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"],
    ["swagger-ui.css", "swagger-ui/swagger-ui.css"],
    ["favicon-32x32.png", "swagger-ui/favicon-32x32.png"],
    ["LICENSE", "swagger-ui/LICENSE"],
    ["NOTICE", "swagger-ui/NOTICE"],
  ],
  uplot: [
    ["dist/uPlot.esm.js", "uplot/uPlot.esm.js"],
    ["dist/uPlot.min.css", "uplot/uPlot.min.css"],
    ["LICENSE", "uplot/LICENSE"],
  ],
};

const manifest = { packages: {}, files: {} };
for (const [pkg, files] of Object.entries(FILES)) {
  const root = join(here, "node_modules", pkg);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  manifest.packages[pkg] = { version: meta.version, license: meta.license };
  for (const [src, dst] of files) {
    const out = join(target, dst);
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(join(root, src), out);
    manifest.files[dst] = createHash("sha256").update(readFileSync(out)).digest("hex");
  }
}
writeFileSync(join(target, "VENDORED.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`vendored ${Object.keys(manifest.files).length} files into ${target}`);
