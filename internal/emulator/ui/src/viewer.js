/*! Bundles adaptivecards 3.0.6 (https://github.com/microsoft/AdaptiveCards), Copyright (c) 2017 Microsoft, MIT License. */
// The Teams emulator's conversation viewer (and the card preview, the same page with its view
// inlined). It shows each tenant as Teams would: teams > channels > threads, group chats, and
// each person's 1:1 chat with a bot; cards go through Microsoft's Adaptive Cards renderer with
// Teams' host config.
import * as AC from "adaptivecards";
import { escapeHTML, markdown, xml } from "./markdown.js";
import { teamsHostConfig } from "./hostconfig.js";

const hostConfig = new AC.HostConfig(teamsHostConfig);

// The mention texts of the card being rendered: the renderer's markdown hook is global, and
// rendering is synchronous.
let cardMentions = [];
AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = markdown(text, cardMentions, false);
  result.didProcess = true;
};

const state = { view: null, selected: null, live: false, note: "" };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fromHTML(html, cls) {
  const el = h("div", { class: cls });
  el.innerHTML = html; // built from escaped text only (markdown.js)
  return el;
}

// conversations lists every place messages live, for the sidebar and the selection.
function conversations(view) {
  const out = [];
  for (const t of view.tenants || []) {
    for (const team of t.teams || []) {
      for (const ch of team.channels || []) {
        const count = (ch.threads || []).reduce((n, th) => n + 1 + (th.replies || []).length, 0);
        out.push({ key: `channel:${ch.id}`, group: `${team.name}`, tenant: t, team, channel: ch, name: ch.name, count });
      }
    }
    for (const c of t.chats || []) {
      out.push({ key: `chat:${c.id}`, group: state.live ? "Group chats" : "Preview", tenant: t, chat: c, name: c.topic || "Group chat",
        count: (c.messages || []).length });
    }
    for (const p of t.people || []) {
      for (const pc of p.chats || []) {
        out.push({ key: `personal:${pc.conversationId}`, group: "Chats with the bot", tenant: t, person: p,
          personal: pc, name: p.name, count: (pc.messages || []).length });
      }
      if (!(p.chats || []).length && state.live) {
        // No 1:1 chat yet: the person can still install the app or write to the bot.
        out.push({ key: `person:${p.id}`, group: "Chats with the bot", tenant: t, person: p,
          personal: { messages: [] }, name: p.name, count: 0 });
      }
    }
  }
  return out;
}

function latest(conv) {
  const times = [];
  const add = (m) => m && times.push(Date.parse(m.createdAt) || 0);
  if (conv.channel) for (const th of conv.channel.threads || []) { add(th.root); (th.replies || []).forEach(add); }
  (conv.chat?.messages || conv.personal?.messages || []).forEach(add);
  return Math.max(0, ...times);
}

function render() {
  const app = document.getElementById("app");
  const view = state.view;
  if (!view) return;
  const convs = conversations(view);
  if (!state.selected || !convs.some((c) => c.key === state.selected)) {
    const busiest = convs.filter((c) => c.count > 0).sort((a, b) => latest(b) - latest(a))[0] || convs[0];
    state.selected = busiest ? busiest.key : null;
  }
  const scroller = document.querySelector(".conversation");
  const keep = scroller ? scroller.scrollTop : 0;
  const current = convs.find((c) => c.key === state.selected);
  app.replaceChildren(
    h("header", { class: "top" },
      h("span", { class: "title" }, view.title || "Teams emulator"),
      state.live ? h("span", { class: "live", title: "Updates as messages arrive" }, "live") : null,
      (view.problems || []).length ? h("span", { class: "bad" }, `${view.problems.length} problem(s)`) : null),
    h("div", { class: "main" }, sidebar(convs), current ? conversation(current) : h("div", { class: "empty" }, "No conversations")),
  );
  const s2 = document.querySelector(".conversation");
  if (s2 && scroller) s2.scrollTop = keep;
}

function sidebar(convs) {
  const nav = h("nav", { class: "sidebar" });
  let group = null;
  for (const c of convs) {
    if (c.group !== group) {
      group = c.group;
      nav.append(h("div", { class: "group" }, group));
    }
    const prefix = c.channel ? "# " : "";
    nav.append(h("a", {
      href: "#", class: `conv${c.key === state.selected ? " selected" : ""}`, "data-conv": c.key,
      onclick: (ev) => { ev.preventDefault(); state.selected = c.key; render(); },
    }, `${prefix}${c.name}`, c.count ? h("span", { class: "count" }, c.count) : null));
  }
  return nav;
}

function conversation(c) {
  const pane = h("section", { class: "conversation", "data-conv": c.key });
  const problems = state.view.problems || [];
  if (problems.length) {
    pane.append(h("div", { class: "problems" }, h("strong", {}, "Teams would not render this card as written:"),
      h("ul", {}, problems.map((p) => h("li", {}, p)))));
  }
  if (c.channel) {
    pane.append(h("h2", {}, `${c.team.name} › ${c.channel.name}`));
    for (const th of c.channel.threads || []) {
      const thread = h("div", { class: "thread", "data-thread": th.root.id },
        message(th.root, c),
        h("div", { class: "replies" }, (th.replies || []).map((r) => message(r, c))));
      if (state.live) {
        const open = state.replying === th.root.id;
        thread.append(open ? actBar(c, { replyTo: th.root.id })
          : h("button", { class: "reply-link", onclick: () => { state.replying = th.root.id; render(); } }, "↩ Reply"));
      }
      pane.append(thread);
    }
  } else if (c.chat) {
    pane.append(h("h2", {}, c.name));
    (c.chat.messages || []).forEach((m) => pane.append(message(m, c)));
    if (state.live) pane.append(actBar(c, {}));
  } else {
    pane.append(h("h2", {}, `${c.person.name} · ${c.personal.botName || "the bot"}`,
      h("span", { class: "installed" }, c.person.installed ? "app installed" : "app not installed")));
    (c.personal.messages || []).forEach((m) => pane.append(message(m, c)));
    if (state.live) pane.append(actBar(c, {}));
  }
  if (state.note) pane.append(h("div", { class: "note" }, state.note));
  return pane;
}

function mentionTexts(activity, card) {
  const entities = (card ? card.msteams?.entities : activity.entities) || [];
  return entities.filter((e) => e && e.type === "mention" && typeof e.text === "string").map((e) => e.text);
}

function message(m, c) {
  const a = m.activity || {};
  const alert = !!a.channelData?.notification?.alert;
  const cls = ["message", alert ? "alert" : "", m.deleted ? "deleted" : "", m.fromUser ? "from-user" : ""].join(" ");
  const meta = h("div", { class: "meta" },
    h("span", { class: "from" }, m.from || "Bot"),
    h("time", { datetime: m.createdAt, title: m.createdAt }, new Date(m.createdAt).toLocaleString()),
    m.updatedAt && !m.deleted ? h("span", { class: "edited", title: m.updatedAt }, "Edited") : null,
    alert ? h("span", { class: "alert-flag", title: "Sent with an activity-feed notification (alert)" }, "Alert") : null,
    a.summary ? h("span", { class: "summary", title: "summary: the notification text" }, a.summary) : null);
  const body = h("div", { class: "body" });
  if (m.deleted) {
    body.append(h("em", { class: "deleted-text" }, "This message has been deleted."));
  } else {
    if (a.text) {
      const mentions = mentionTexts(a);
      body.append(a.textFormat === "plain"
        ? h("div", { class: "text plain" }, a.text)
        : fromHTML(a.textFormat === "xml" ? xml(a.text, mentions) : markdown(a.text, mentions, true), "text"));
    }
    for (const att of a.attachments || []) body.append(attachment(att, m, c));
  }
  return h("article", { class: cls, "data-activity-id": m.id }, meta, body);
}

function attachment(att, m, c) {
  if (att.contentType !== "application/vnd.microsoft.card.adaptive") {
    return h("div", { class: "unsupported" }, `Attachment ${att.contentType}`);
  }
  const card = new AC.AdaptiveCard();
  card.hostConfig = hostConfig;
  card.onExecuteAction = (action) => pressed(action, m, c);
  const holder = h("div", { class: "card" });
  try {
    cardMentions = mentionTexts(null, att.content);
    card.parse(att.content);
    const el = card.render();
    if (el) holder.append(el);
  } catch (err) {
    holder.append(h("div", { class: "bad" }, `The card could not be rendered: ${err}`));
  } finally {
    cardMentions = [];
  }
  return holder;
}

// ---- acting as a user (the emulator's /_emulator/v1/bot/act) ----

async function act(action) {
  state.note = "Sending…";
  render();
  try {
    const res = await fetch("../v1/bot/act", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(action),
    });
    const text = await res.text();
    state.note = res.ok ? `The bot answered: ${summarise(text)}` : `Not sent (${res.status}): ${summarise(text)}`;
  } catch (err) {
    state.note = `Not sent: ${err}`;
  }
  // An install changes no message, so no event comes: load the view again (load renders).
  try {
    await load();
  } catch {
    render();
  }
}

function summarise(text) {
  try {
    const v = JSON.parse(text);
    if (v.error) return v.error;
    const answers = v.answers || v;
    if (Array.isArray(answers)) return answers.map((a) => `${a.activityType} → ${a.status}`).join(", ");
  } catch { /* not JSON */ }
  return text.slice(0, 300);
}

// scopeOf says where an action happens and to which bot (the bot of a 1:1 chat).
function scopeOf(c) {
  if (c.channel) return { scope: "team", scopeId: c.team.id };
  if (c.chat) return { scope: "chat", scopeId: c.chat.id };
  const app = (c.tenant.apps || []).find((a) => a.botId === c.personal.botId) || (c.tenant.apps || [])[0];
  return { scope: "user", botAppId: c.personal.botId || app?.botId, teamsAppId: c.personal.teamsAppId || app?.teamsAppId };
}

function people(c) {
  return (c.tenant.people || []);
}

let actingUser = "";

function actBar(c, { replyTo }) {
  const users = c.person ? [c.person] : people(c);
  if (!actingUser || !users.some((u) => u.id === actingUser)) actingUser = users[0]?.id || "";
  const select = h("select", { class: "act-user", onchange: (ev) => { actingUser = ev.target.value; } },
    users.map((u) => h("option", { value: u.id, selected: u.id === actingUser }, u.name)));
  const input = h("input", { class: "act-text", placeholder: replyTo ? "Reply as…" : "Type a message as…" });
  const send = () => {
    if (!input.value.trim()) return;
    act({ kind: "message", user: select.value, text: input.value, replyToId: replyTo, ...scopeOf(c) });
  };
  input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") send(); });
  const bar = h("div", { class: "act" }, select, input, h("button", { class: "act-send", onclick: send }, "Send"));
  if (c.person) {
    bar.append(h("button", { class: "act-install", onclick: () => act({ kind: "install", user: select.value, ...scopeOf(c) }) }, "Install app"),
      h("button", { class: "act-uninstall", onclick: () => act({ kind: "uninstall", user: select.value, ...scopeOf(c) }) }, "Uninstall app"));
  }
  return bar;
}

function pressed(action, m, c) {
  const type = action.getJsonTypeName();
  if (type === "Action.OpenUrl") {
    const u = action.url || "";
    if (/^https?:/i.test(u)) window.open(u, "_blank", "noopener");
    return;
  }
  if (!state.live) return; // the preview has no bot to press for
  const users = c.person ? [c.person] : people(c);
  const user = actingUser || users[0]?.id;
  const data = action.data ?? {};
  const value = type === "Action.Execute"
    ? { action: { type, id: action.id, verb: action.verb, data } }
    : data;
  // Action.Execute is an invoke (Universal Actions); Action.Submit, a message carrying the data.
  if (type === "Action.Execute") {
    act({ kind: "invoke", user, name: "adaptiveCard/action", value, replyToId: m.id, ...scopeOf(c) });
  } else {
    act({ kind: "message", user, value, replyToId: m.id, ...scopeOf(c) });
  }
}

// ---- loading and live updates ----

async function load() {
  const res = await fetch("api/view", { cache: "no-store" });
  if (!res.ok) throw new Error(`api/view: ${res.status}`);
  state.view = await res.json();
  render();
}

function start() {
  const inline = document.getElementById("view");
  if (inline) {
    state.view = JSON.parse(inline.textContent);
    render();
    return;
  }
  state.live = true;
  let pending = null;
  const events = new EventSource("api/events");
  // Load once the stream is open (and again after a reconnect), so no change falls between the
  // load and the stream.
  events.addEventListener("open", () => {
    load().catch((err) => { document.getElementById("app").textContent = String(err); });
  });
  events.addEventListener("changed", () => {
    clearTimeout(pending);
    pending = setTimeout(() => load().catch(() => {}), 100);
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

// For tests and debugging: the state the page shows.
window.teamsViewer = { state, escapeHTML };
