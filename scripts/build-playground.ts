/**
 * Builds the playground page served at `/` (src/server/playground-route.ts) into
 * `dist/playground/`: `playground/src/main.ts` bundled by esbuild with CodeMirror and connect-web
 * into one script, next to the page's HTML, style sheet and icon. Run by `npm run build`.
 */
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { repositoryRoot } from "../src/config/repository.js";

const root = repositoryRoot();
const source = join(root, "playground");
const output = join(root, "dist", "playground");

rmSync(output, { recursive: true, force: true });
mkdirSync(output, { recursive: true });
await build({
  entryPoints: [join(source, "src", "main.ts")],
  outfile: join(output, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  // The bundled packages' license notices stay in the script, at its end.
  legalComments: "eof",
  logLevel: "warning",
});
for (const file of ["index.html", "app.css", "favicon.svg"]) copyFileSync(join(source, file), join(output, file));
