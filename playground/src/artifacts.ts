/**
 * Files a run wrote, shown safely: text as text, PNG/JPEG/GIF/WebP and SVG as images (an <img>
 * never runs an SVG's scripts nor loads what it links), everything else offered for download as
 * opaque bytes, never opened in this origin.
 */
import { ArtifactSkipReason, type RunResponse } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";
import { looksLikeSvg, sniffImageType } from "./image-types.js";

/** Object URLs made for one run's files; revoked when the next run replaces them. */
export class ObjectUrls {
  private readonly urls: string[] = [];

  make(bytes: Uint8Array | string, type: string): string {
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
    this.urls.push(url);
    return url;
  }

  revokeAll(): void {
    for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
  }
}

const skipReasons: Record<ArtifactSkipReason, string> = {
  [ArtifactSkipReason.UNSPECIFIED]: "no reason given",
  [ArtifactSkipReason.SYMLINK]: "a symbolic link",
  [ArtifactSkipReason.SPECIAL_FILE]: "not a regular file",
  [ArtifactSkipReason.HARD_LINK]: "a hard link",
  [ArtifactSkipReason.TOO_LARGE]: "too large",
  [ArtifactSkipReason.TOO_MANY]: "too many files",
  [ArtifactSkipReason.TOTAL_SIZE]: "over the total size",
  [ArtifactSkipReason.BAD_NAME]: "a name that cannot be returned",
  [ArtifactSkipReason.NOT_COLLECTED]: "not collected",
  [ArtifactSkipReason.NOT_FOUND]: "not found",
};

function download(name: string, bytes: Uint8Array | string, urls: ObjectUrls): HTMLAnchorElement {
  // application/octet-stream: the browser saves it; an HTML file from a run is never rendered here.
  const size = typeof bytes === "string" ? new TextEncoder().encode(bytes).length : bytes.length;
  return h("a", {
    className: "download",
    text: `Download (${formatBytes(size)})`,
    attributes: { href: urls.make(bytes, "application/octet-stream"), download: name.split("/").pop() ?? name },
  });
}

function image(name: string, url: string): HTMLImageElement {
  return h("img", { className: "artifact-image", attributes: { src: url, alt: `${name}, written by the program` } });
}

/** One list item per file the run returned or skipped. */
export function artifactItems(response: RunResponse, urls: ObjectUrls): HTMLLIElement[] {
  const items: HTMLLIElement[] = [];
  const title = (name: string) => h("span", { className: "artifact-name", text: name });
  for (const [name, text] of Object.entries(response.artifacts).sort(([a], [b]) => a.localeCompare(b))) {
    const item = h("li", { className: "artifact", attributes: { "data-name": name } }, title(name));
    if (looksLikeSvg(name, text)) item.append(image(name, urls.make(text, "image/svg+xml")));
    else item.append(h("pre", { className: "artifact-text", text }));
    item.append(download(name, text, urls));
    items.push(item);
  }
  for (const [name, bytes] of Object.entries(response.binaryArtifacts).sort(([a], [b]) => a.localeCompare(b))) {
    const item = h("li", { className: "artifact", attributes: { "data-name": name } }, title(name));
    const type = sniffImageType(bytes);
    if (type) item.append(image(name, urls.make(bytes, type)));
    item.append(download(name, bytes, urls));
    items.push(item);
  }
  for (const skipped of response.skippedArtifacts) {
    items.push(
      h(
        "li",
        { className: "artifact skipped", attributes: { "data-name": skipped.name } },
        title(skipped.name),
        h("span", { text: ` not returned: ${skipReasons[skipped.reason] ?? "skipped"}` }),
      ),
    );
  }
  return items;
}
