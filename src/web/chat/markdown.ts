// AI replies as formatted text. markdown-it turns Markdown into HTML with raw HTML switched
// off (`<b>` in a reply stays the text "<b>"); its output is then rebuilt element by element
// from an allow-list, so whatever a model writes, the page gets only these elements, links
// only to http(s) and mailto, and no attribute that could run or style anything.
import MarkdownIt from "markdown-it";
import { el } from "../dom";

const markdown = new MarkdownIt({ html: false, linkify: true, breaks: true });
// Table alignment comes as an inline style, which the CSP forbids (even in a parsed, unshown
// document Chromium reports it): it becomes a class instead.
markdown.core.ruler.push("align_as_class", (state) => {
  for (const token of state.tokens) {
    if (token.type !== "th_open" && token.type !== "td_open") continue;
    const align = /text-align:\s*(left|right|center)/.exec(String(token.attrGet("style") ?? ""))?.[1];
    token.attrs = token.attrs?.filter(([name]) => name !== "style") ?? null;
    if (align) token.attrSet("class", `align-${align}`);
  }
});

const ELEMENTS = new Set([
  "p",
  "br",
  "em",
  "strong",
  "del",
  "s",
  "code",
  "pre",
  "blockquote",
  "ul",
  "ol",
  "li",
  "hr",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "table",
  "thead",
  "tbody",
  "tr",
  "th",
  "td",
  "a",
]);
const BLOCK_CONTAINERS = new Set(["ul", "ol", "blockquote", "table", "thead", "tbody", "tr"]);
const SAFE_LINK = /^(https?:|mailto:)/i;
const LANGUAGE = /^language-[\w+#.-]{1,30}$/;

/** The reply's text as allowed elements: call again with the longer text while it streams. */
export function renderMarkdown(text: string): DocumentFragment {
  const parsed = new DOMParser().parseFromString(markdown.render(text), "text/html");
  const out = document.createDocumentFragment();
  for (const child of parsed.body.childNodes) copyAllowed(child, out);
  return out;
}

/** Copies a parsed node into `parent` when allowed; a disallowed element gives only its text. */
function copyAllowed(node: Node, parent: Node): void {
  if (node.nodeType === Node.TEXT_NODE) {
    // The newlines markdown-it puts between blocks are layout, not text: the reply's text stays its own.
    const between = !(parent instanceof HTMLElement) || BLOCK_CONTAINERS.has(parent.tagName.toLowerCase());
    if (between && !node.textContent?.trim()) return;
    parent.appendChild(document.createTextNode(node.textContent ?? ""));
    return;
  }
  if (!(node instanceof Element)) return;
  const tag = node.tagName.toLowerCase();
  if (!ELEMENTS.has(tag)) {
    parent.appendChild(document.createTextNode(node.textContent ?? ""));
    return;
  }
  const copy = document.createElement(tag);
  copySafeAttributes(node, copy, tag);
  for (const child of node.childNodes) copyAllowed(child, copy);
  parent.appendChild(tag === "pre" ? codeBlock(copy) : tag === "table" ? el("div", { class: "md-table" }, copy) : copy);
}

function copySafeAttributes(from: Element, to: HTMLElement, tag: string): void {
  if (tag === "a") {
    const href = from.getAttribute("href") ?? "";
    if (SAFE_LINK.test(href)) to.setAttribute("href", href);
    to.setAttribute("rel", "noopener noreferrer nofollow");
    to.setAttribute("target", "_blank");
  }
  if (tag === "code" && LANGUAGE.test(from.getAttribute("class") ?? "")) to.className = from.getAttribute("class")!;
  if (tag === "ol" && /^\d{1,6}$/.test(from.getAttribute("start") ?? ""))
    to.setAttribute("start", from.getAttribute("start")!);
  if ((tag === "th" || tag === "td") && /^align-(left|right|center)$/.test(from.getAttribute("class") ?? "")) {
    to.className = from.getAttribute("class")!;
  }
}

/** A fenced block with a button that copies its code. */
function codeBlock(pre: HTMLElement): HTMLElement {
  const button = el("button", {
    class: "code-copy",
    text: "Copy",
    attrs: { "type": "button", "aria-label": "Copy code" },
  });
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(pre.textContent ?? "").then(
      () => (button.textContent = "Copied"),
      () => (button.textContent = "Copy failed"),
    );
  });
  return el("div", { class: "code-block" }, button, pre);
}
