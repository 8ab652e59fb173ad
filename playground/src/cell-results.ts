/**
 * What a notebook cell displayed (RunResponse.results, Jupyter's display-data) shown safely: HTML
 * is parsed, never run, and only a table's and text's elements are rebuilt from it (no attribute
 * but colspan and rowspan, no script, style, link, image or form); PNG and SVG are shown through
 * <img>, where an SVG's scripts never run; anything else as text.
 */
import type { CellResult } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { h } from "./dom.js";

/** The elements a displayed table or text may keep. */
const keptTags = new Set([
  "table",
  "thead",
  "tbody",
  "tfoot",
  "tr",
  "th",
  "td",
  "caption",
  "b",
  "i",
  "em",
  "strong",
  "code",
  "pre",
  "span",
  "div",
  "p",
  "br",
  "small",
  "sub",
  "sup",
  "ul",
  "ol",
  "li",
]);
/** Elements whose content is dropped with them, not unwrapped. */
const droppedWithContent = new Set(["script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math"]);

/** HTML rebuilt from its safe elements and text only; DOMParser runs nothing it parses. */
export function sanitizedHtml(html: string): DocumentFragment {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  const fragment = document.createDocumentFragment();
  copySafe(parsed.body, fragment);
  return fragment;
}

function copySafe(from: Node, to: Node): void {
  for (const child of Array.from(from.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      to.appendChild(document.createTextNode(child.textContent ?? ""));
    } else if (child instanceof Element) {
      const tag = child.tagName.toLowerCase();
      if (droppedWithContent.has(tag)) continue;
      if (!keptTags.has(tag)) {
        copySafe(child, to);
        continue;
      }
      const copy = document.createElement(tag);
      for (const name of ["colspan", "rowspan"]) {
        const value = child.getAttribute(name);
        if (value !== null && /^\d{1,3}$/.test(value)) copy.setAttribute(name, value);
      }
      copySafe(child, copy);
      to.appendChild(copy);
    }
  }
}

/** One displayed result, by its richest representation the page can show safely. */
export function cellResultElement(result: CellResult): HTMLElement {
  const { data } = result;
  const item = h("li", { className: result.isMainResult ? "cell-result main-result" : "cell-result" });
  const png = data["image/png"];
  const svg = data["image/svg+xml"];
  const html = data["text/html"];
  if (png !== undefined) {
    item.append(
      h("img", { className: "result-image", attributes: { src: `data:image/png;base64,${png}`, alt: data["text/plain"] ?? "" } }),
    );
  } else if (svg !== undefined) {
    const encoded = btoa(String.fromCharCode(...new TextEncoder().encode(svg)));
    item.append(h("img", { className: "result-image", attributes: { src: `data:image/svg+xml;base64,${encoded}`, alt: "" } }));
  } else if (html !== undefined) {
    const box = h("div", { className: "result-html" });
    box.append(sanitizedHtml(html));
    item.append(box);
  } else {
    item.append(h("pre", { className: "result-text", text: data["application/json"] ?? data["text/plain"] ?? "" }));
  }
  return item;
}
