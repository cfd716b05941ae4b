// Teams' markdown subsets, rendered to safe HTML: everything is escaped first, then only the
// constructs Teams renders are turned into tags.
//
// Text messages (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages):
// bold, italic, strikethrough, headings, block quotes, lists, inline code, code blocks, links.
// Adaptive Card TextBlocks and facts (https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format):
// bold, italic, lists and links only.

export function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function safeURL(u) {
  return /^(https?:|mailto:)/i.test(u) ? u : null;
}

// mentionsIn turns <at>Name</at> (already escaped) into a highlighted mention when the message
// has a mention entity with that text, as Teams does; others stay as written.
function mentionsIn(html, mentions) {
  return html.replace(/&lt;at&gt;(.*?)&lt;\/at&gt;/g, (whole, name) => {
    const known = mentions.some((m) => escapeHTML(m) === whole);
    return known ? `<span class="mention">${name}</span>` : whole;
  });
}

// inline renders the inline constructs of one escaped line.
function inline(line, mentions, full) {
  const codes = [];
  let s = line;
  if (full) {
    s = s.replace(/`([^`]+)`/g, (_, c) => {
      codes.push(`<code>${c}</code>`);
      return `\u0000${codes.length - 1}\u0000`;
    });
  }
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, text, url) => {
    const u = safeURL(url.replace(/&amp;/g, "&"));
    return u ? `<a href="${escapeHTML(u)}" target="_blank" rel="noopener noreferrer">${text}</a>` : whole;
  });
  s = s.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
  s = s.replace(/(^|[^\w*])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>");
  s = s.replace(/(^|[^\w])_([^_\s][^_]*?)_(?!\w)/g, "$1<em>$2</em>");
  if (full) s = s.replace(/~~(.+?)~~/g, "<del>$1</del>");
  s = mentionsIn(s, mentions);
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => codes[Number(i)]);
}

// markdown renders text in Teams' subset: full for messages, the card subset otherwise.
export function markdown(text, mentions = [], full = true) {
  const lines = escapeHTML(text || "").replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let list = null;
  let para = [];
  const flushPara = () => {
    if (para.length) out.push(`<p>${para.join("<br>")}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${i}</li>`).join("")}</${list.tag}>`);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (full && /^```/.test(line)) {
      flushPara();
      flushList();
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      out.push(`<pre><code>${code.join("\n")}</code></pre>`);
      continue;
    }
    const ul = /^\s*[-*+]\s+(.*)$/.exec(line);
    const ol = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (ul || ol) {
      flushPara();
      const tag = ul ? "ul" : "ol";
      if (!list || list.tag !== tag) {
        flushList();
        list = { tag, items: [] };
      }
      list.items.push(inline((ul || ol)[1], mentions, full));
      continue;
    }
    flushList();
    const h = full && /^(#{1,3})\s+(.*)$/.exec(line);
    if (h) {
      flushPara();
      out.push(`<h${h[1].length + 2}>${inline(h[2], mentions, full)}</h${h[1].length + 2}>`);
    } else if (full && /^&gt;\s?/.test(line)) {
      flushPara();
      out.push(`<blockquote>${inline(line.replace(/^&gt;\s?/, ""), mentions, full)}</blockquote>`);
    } else if (line.trim() === "") {
      flushPara();
    } else {
      para.push(inline(line, mentions, full));
    }
  }
  flushPara();
  flushList();
  return out.join("");
}

// The HTML subset Teams renders in a message with textFormat xml.
const allowedTags = new Set(["B", "STRONG", "I", "EM", "U", "S", "STRIKE", "DEL", "P", "BR", "UL", "OL", "LI", "PRE",
  "CODE", "BLOCKQUOTE", "H1", "H2", "H3", "A", "SPAN", "DIV", "AT"]);

// xml renders a message with textFormat xml: only allowed tags, only http(s) links, no attributes
// otherwise. Parsed in an inert document, so nothing in it runs.
export function xml(text, mentions = []) {
  const doc = new DOMParser().parseFromString(`<body>${text || ""}</body>`, "text/html");
  const walk = (node) => {
    let html = "";
    for (const n of node.childNodes) {
      if (n.nodeType === Node.TEXT_NODE) {
        html += escapeHTML(n.textContent);
      } else if (n.nodeType === Node.ELEMENT_NODE) {
        const inner = walk(n);
        if (!allowedTags.has(n.tagName)) {
          html += inner;
        } else if (n.tagName === "AT") {
          html += mentionsIn(`&lt;at&gt;${inner}&lt;/at&gt;`, mentions);
        } else if (n.tagName === "A") {
          const u = safeURL(n.getAttribute("href") || "");
          html += u ? `<a href="${escapeHTML(u)}" target="_blank" rel="noopener noreferrer">${inner}</a>` : inner;
        } else if (n.tagName === "BR") {
          html += "<br>";
        } else {
          const t = n.tagName.toLowerCase();
          html += `<${t}>${inner}</${t}>`;
        }
      }
    }
    return html;
  };
  return walk(doc.body);
}
