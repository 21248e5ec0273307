// waiter-sdk sandbox page. Plain JavaScript, no build step, no network besides its own server.
//
// Everything that came from a user or a plugin reaches the DOM through textContent or text
// nodes, never as markup: chat text is untrusted input by definition.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const ENDED_SHOWN_MS = 6000;
  const LOG_LIMIT = 500;
  const LOG_FOLD = 160; // characters of a log line shown before "more"
  const ROLES = ["member", "admin", "owner"];

  // --- small helpers ----------------------------------------------------------------------

  // h("li", {class: "x", testid: "y"}, child, "text") -> element; strings become text nodes.
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "testid") node.dataset.testid = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // Remembered settings. `storage` is shared by every tab of the browser (the log pane folded
  // or not); `tabStorage` is this tab's own (who is typing, which chat is open), so that Alice
  // in one tab and Bob in another stay who they are across reloads.
  function keeper(area) {
    return {
      get(key, fallback) {
        try {
          const raw = window[area].getItem("waiter-sandbox:" + key);
          return raw === null ? fallback : JSON.parse(raw);
        } catch (_) {
          return fallback;
        }
      },
      set(key, value) {
        try {
          window[area].setItem("waiter-sandbox:" + key, JSON.stringify(value));
        } catch (_) {
          // Private browsing or a full quota: the page works without remembering.
        }
      },
    };
  }
  const storage = keeper("localStorage");
  const tabStorage = keeper("sessionStorage");

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function clock(wall, seconds) {
    const d = new Date(wall);
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return seconds ? hm + ":" + pad(d.getSeconds()) : hm;
  }

  // Server times are loop times: only differences mean anything, so each frame carries the
  // server's "now" and a time becomes wall-clock relative to when the frame arrived.
  function wallOf(t, now) {
    return Date.now() - Math.max(0, now - t) * 1000;
  }

  function safeImageUrl(url) {
    if (typeof url !== "string") return null;
    if (/^https?:\/\//i.test(url) || /^data:image\/(png|jpeg|gif|webp);base64,/i.test(url)) {
      return url;
    }
    return null;
  }

  function toast(text) {
    const node = h("div", { class: "toast", testid: "toast", role: "alert" }, String(text));
    $("#toasts").append(node);
    setTimeout(() => node.remove(), 5000);
  }

  // --- state --------------------------------------------------------------------------------

  const S = {
    instance: null,
    bot: { id: "bot", name: "Bot" },
    users: [],
    groups: [],
    convs: new Map(), // conv -> [record]
    byId: new Map(), // message id -> record
    sessions: [],
    ended: [], // {row, until}
    log: [],
    unread: new Map(),
    notes: new Map(), // conv -> a system line shown above its messages
    current: tabStorage.get("conv", "group:g1"),
    // ?as=bob opens this tab as Bob (checked against the users once the snapshot is in).
    me: params.get("as") || tabStorage.get("me", "alice"),
    limits: { text: 4000, parts: 32, frame: 65536 },
    pending: new Map(), // ref -> what was sent, put back in the box if the server refuses it
    replyTo: null,
    images: [],
    connected: false,
    commands: [], // what /help lists: {name, aliases, prefix, plugin, description, args}
    completion: { items: [], index: 0 },
  };

  function userName(id, fallback) {
    if (id === S.bot.id) return S.bot.name;
    const user = S.users.find((u) => u.id === id);
    return user ? user.name : fallback || id;
  }

  function convTitle(conv) {
    const [kind, id] = splitConv(conv);
    if (kind === "group") {
      const group = S.groups.find((g) => g.id === id);
      return group ? group.name : id;
    }
    return userName(id) + " ↔ " + S.bot.name;
  }

  function splitConv(conv) {
    const at = conv.indexOf(":");
    return [conv.slice(0, at), conv.slice(at + 1)];
  }

  function convExists(conv) {
    const [kind, id] = splitConv(conv);
    return kind === "group" ? S.groups.some((g) => g.id === id) : S.users.some((u) => u.id === id);
  }

  function keep(record, now) {
    record.wall = wallOf(record.t, now);
    let list = S.convs.get(record.conv);
    if (!list) S.convs.set(record.conv, (list = []));
    list.push(record);
    S.byId.set(record.id, record);
    if (list.length > 500) S.byId.delete(list.shift().id);
  }

  // --- rendering: conversations and users ---------------------------------------------------

  function renderConvs() {
    const groups = $("#groups");
    const privates = $("#privates");
    groups.replaceChildren();
    privates.replaceChildren();
    for (const g of S.groups) groups.append(convItem("group:" + g.id, "# " + g.name));
    for (const u of S.users) privates.append(convItem("private:" + u.id, u.name + " ↔ " + S.bot.name));
  }

  function convItem(conv, label) {
    const unread = S.unread.get(conv) || 0;
    const button = h(
      "button",
      {
        type: "button",
        class: "conv" + (conv === S.current ? " active" : ""),
        testid: "conv",
        "data-conv": conv,
        "aria-current": conv === S.current ? "true" : null,
        onclick: () => selectConv(conv),
      },
      h("span", {}, label),
      unread ? h("span", { class: "badge" }, String(unread)) : null,
    );
    return h("li", {}, button);
  }

  function renderUsers() {
    const select = $("#me");
    select.replaceChildren(...S.users.map((u) => h("option", { value: u.id }, u.name)));
    select.value = S.me;
    const list = $("#users");
    list.replaceChildren();
    for (const u of S.users) {
      const role = h(
        "select",
        { class: "role", "aria-label": "Role of " + u.name + " in groups", testid: "role-select",
          title: "Role in groups (event.sender_role)" },
        ...ROLES.map((r) => h("option", { value: r }, r)),
      );
      role.value = u.role || "member";
      role.addEventListener("change", () => send({ type: "set_role", user_id: u.id, role: role.value }));
      const row = h(
        "li",
        { class: "user" + (u.id === S.me ? " me" : ""), testid: "user", "data-user": u.id },
        h("span", { class: "name" }, u.name),
        role,
        h("button", {
          type: "button",
          class: "icon",
          title: "Rename " + u.name,
          "aria-label": "Rename " + u.name,
          testid: "rename-user",
          text: "✎",
          onclick: () => startRename(row, u),
        }),
      );
      list.append(row);
    }
  }

  function startRename(row, user) {
    const input = h("input", { maxlength: 32, "aria-label": "New name", testid: "rename-input" });
    input.value = user.name;
    const form = h("form", { class: "inline-form" }, input, h("button", { type: "submit" }, "Save"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (name && name !== user.name) send({ type: "rename_user", user_id: user.id, name });
      renderUsers();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") renderUsers();
    });
    row.replaceChildren(form);
    input.focus();
    input.select();
  }

  function senderFor(conv) {
    const [kind, id] = splitConv(conv);
    return kind === "private" ? id : S.me;
  }

  function selectConv(conv) {
    if (!convExists(conv)) return;
    S.current = conv;
    tabStorage.set("conv", conv);
    S.unread.delete(conv);
    const [kind, id] = splitConv(conv);
    // Only its own user types in a private chat, so opening one switches who is typing.
    if (kind === "private") setMe(id, false);
    clearReply();
    closeMenus();
    renderConvs();
    renderChat();
  }

  function setMe(id, followPrivate) {
    if (!S.users.some((u) => u.id === id)) return;
    S.me = id;
    tabStorage.set("me", id);
    renderUsers();
    if (followPrivate && splitConv(S.current)[0] === "private") {
      selectConv("private:" + id);
      return;
    }
    renderChat(); // "mine" means the person typing now, so the bubbles follow the switch
  }

  // --- rendering: messages ------------------------------------------------------------------

  function partNode(part) {
    switch (part.type) {
      case "text":
        return document.createTextNode(part.text);
      case "at":
        return h(
          "span",
          { class: "mention" + (part.user_id === S.me ? " me" : ""), testid: "mention" },
          "@" + userName(part.user_id, part.name),
        );
      case "at_all":
        return h("span", { class: "mention me", testid: "mention" }, "@all");
      case "image": {
        const url = safeImageUrl(part.url);
        if (!url) return h("span", { class: "placeholder" }, "[image: " + (part.label || "?") + "]");
        const img = h("img", { alt: "image", loading: "lazy", testid: "message-image" });
        img.referrerPolicy = "no-referrer";
        img.src = url; // a property, checked above: only http(s) and data:image URLs
        return img;
      }
      case "face":
        return h("span", { class: "placeholder" }, "[face " + part.id + "]");
      default:
        return h("span", { class: "placeholder" }, "[" + (part.kind || part.type) + "]");
    }
  }

  function plainPreview(record) {
    return record.parts
      .map((part) => {
        if (part.type === "text") return part.text;
        if (part.type === "at") return "@" + userName(part.user_id, part.name);
        if (part.type === "at_all") return "@all";
        if (part.type === "image") return "[image]";
        return "[" + (part.kind || part.type) + "]";
      })
      .join("")
      .replace(/\s+/g, " ")
      .slice(0, 80);
  }

  function quoteNode(quote) {
    if (quote.missing) {
      return h("div", { class: "quote", testid: "quote" }, "↪ message #" + quote.id);
    }
    const node = h(
      "div",
      { class: "quote", testid: "quote", title: "Show the quoted message" },
      h("b", {}, userName(quote.sender_id, quote.sender_name)),
      quote.text,
    );
    node.addEventListener("click", (event) => {
      event.stopPropagation();
      const target = document.querySelector('.msg[data-id="' + CSS.escape(quote.id) + '"]');
      if (target) {
        target.scrollIntoView({ block: "center", behavior: "smooth" });
        target.classList.remove("flash");
        void target.offsetWidth; // restart the animation
        target.classList.add("flash");
      }
    });
    return node;
  }

  function messageNode(record) {
    if (record.system) {
      // A line of the sandbox itself (a session closed, expired, reloaded): not a message.
      return h("li", { class: "system line", testid: "system-line", "data-id": record.id },
        record.parts.map((part) => part.text || "").join(""));
    }
    const mine = !record.bot && record.sender_id === senderFor(S.current);
    const node = h(
      "li",
      {
        class: "msg" + (record.bot ? " bot" : "") + (mine ? " mine" : ""),
        testid: "message",
        "data-id": record.id,
        "data-sender": record.sender_id,
        tabindex: 0,
        title: "Click to reply",
      },
      h(
        "div",
        { class: "msg-head" },
        h("span", { class: "who", testid: "message-sender" }, userName(record.sender_id, record.sender_name)),
        h("time", {}, clock(record.wall, false)),
        h("span", {}, "#" + record.id),
      ),
      record.quote ? quoteNode(record.quote) : null,
      h("div", { class: "msg-body", testid: "message-text" }, ...record.parts.map(partNode)),
    );
    if (S.replyTo && S.replyTo.id === record.id) node.classList.add("replying");
    node.addEventListener("click", () => setReply(record));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter") setReply(record);
    });
    return node;
  }

  function renderChat() {
    $("#chat-title").textContent = convTitle(S.current);
    const list = $("#messages");
    const records = S.convs.get(S.current) || [];
    list.replaceChildren(...records.map(messageNode));
    const note = S.notes.get(S.current);
    if (note) list.prepend(h("li", { class: "system", testid: "system-note" }, note));
    if (!records.length && !note) {
      list.append(h("li", { class: "empty" }, "No messages yet. Say something — try /help."));
    }
    list.scrollTop = list.scrollHeight;
    updateComposer();
  }

  function addMessage(record, now) {
    keep(record, now);
    if (record.conv !== S.current) {
      S.unread.set(record.conv, (S.unread.get(record.conv) || 0) + 1);
      renderConvs();
      return;
    }
    const list = $("#messages");
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    list.append(messageNode(record));
    if (nearBottom || record.sender_id === senderFor(S.current)) list.scrollTop = list.scrollHeight;
  }

  // --- composer -----------------------------------------------------------------------------

  function updateComposer() {
    const sender = senderFor(S.current);
    $("#text").placeholder = S.connected
      ? "Message " + convTitle(S.current) + " as " + userName(sender) + "…"
      : "Offline — waiting for the server…";
    $("#send").disabled = !S.connected;
    $("#me").value = S.me;
  }

  function setReply(record) {
    S.replyTo = record;
    $("#reply-text").textContent =
      "Replying to " + userName(record.sender_id, record.sender_name) + ": " + plainPreview(record);
    $("#reply-bar").hidden = false;
    for (const node of document.querySelectorAll(".msg.replying")) node.classList.remove("replying");
    const node = document.querySelector('.msg[data-id="' + CSS.escape(record.id) + '"]');
    if (node) node.classList.add("replying");
    $("#text").focus();
  }

  function clearReply() {
    S.replyTo = null;
    $("#reply-bar").hidden = true;
    for (const node of document.querySelectorAll(".msg.replying")) node.classList.remove("replying");
  }

  function renderAttachments() {
    const list = $("#attachments");
    list.replaceChildren(
      ...S.images.map((url, index) =>
        h(
          "li",
          { testid: "attachment" },
          h("span", {}, url),
          h("button", {
            type: "button",
            class: "icon",
            "aria-label": "Remove image",
            text: "✕",
            onclick: () => {
              S.images.splice(index, 1);
              renderAttachments();
            },
          }),
        ),
      ),
    );
    list.hidden = S.images.length === 0;
  }

  function mentionables() {
    const people = S.users.map((u) => ({ id: u.id, name: u.name }));
    people.push({ id: S.bot.id, name: S.bot.name });
    if (splitConv(S.current)[0] === "group") people.push({ id: null, name: "all" });
    return people;
  }

  // "@Bob hi" -> [{at bob}, {text " hi"}]: a mention is "@" plus a current name (longest
  // first, so "@Ann Lee" wins over "@Ann") that is not followed by a letter or digit.
  function buildParts(text) {
    const names = mentionables().sort((a, b) => b.name.length - a.name.length);
    const parts = [];
    let buffer = "";
    const flush = () => {
      if (buffer) parts.push({ type: "text", text: buffer });
      buffer = "";
    };
    let i = 0;
    while (i < text.length) {
      if (text[i] === "@") {
        const rest = text.slice(i + 1);
        const hit = names.find(
          (n) => rest.startsWith(n.name) && !/^[\p{L}\p{N}_]/u.test(rest.slice(n.name.length)),
        );
        if (hit) {
          flush();
          parts.push(hit.id === null ? { type: "at_all" } : { type: "at", user_id: hit.id });
          i += 1 + hit.name.length;
          continue;
        }
      }
      buffer += text[i];
      i += 1;
    }
    flush();
    return parts;
  }

  // Characters as the server counts them (code points: an emoji is one, not two).
  function charCount(text) {
    let n = 0;
    for (const _ of text) n += 1;
    return n;
  }

  function thousands(n) {
    return n.toLocaleString("en-US");
  }

  // The counter shows once a message nears the limit, and says so plainly once it is over.
  function updateCounter() {
    const counter = $("#counter");
    const limit = S.limits.text;
    const n = charCount($("#text").value);
    counter.hidden = n < limit * 0.8;
    counter.textContent = thousands(n) + " / " + thousands(limit);
    counter.classList.toggle("over", n > limit);
    counter.title = n > limit ? "Too long to send: " + thousands(n - limit) + " characters over" : "";
  }

  // Why a message cannot be sent, in a sentence; null when it can.
  function tooBig(text, frame) {
    const n = charCount(text);
    const limit = S.limits.text;
    if (n > limit) {
      return (
        "This message has " + thousands(n) + " characters; the limit is " + thousands(limit) +
        ". Shorten it and send it again (your text is still in the box)."
      );
    }
    if (frame.parts.length > S.limits.parts) {
      return (
        "This message has " + frame.parts.length + " parts (text, mentions, images); the limit is " +
        S.limits.parts + ". Remove some and send it again."
      );
    }
    const bytes = new TextEncoder().encode(JSON.stringify(frame)).length;
    if (bytes > S.limits.frame) {
      return (
        "This message is too big to send (" + Math.ceil(bytes / 1024) + " KB; the limit is " +
        Math.floor(S.limits.frame / 1024) + " KB). Shorten it and send it again."
      );
    }
    return null;
  }

  // Refs name this tab's sends; the server echoes them to every tab, so they differ per tab.
  const tabRef = Math.random().toString(36).slice(2, 10);
  let refs = 0;

  function submit(event) {
    event.preventDefault();
    const input = $("#text");
    const text = input.value;
    if (!S.connected) {
      toast("Not connected to the server yet.");
      return;
    }
    const parts = text.trim() ? buildParts(text) : [];
    for (const url of S.images) parts.push({ type: "image", url });
    if (!parts.length) return;
    refs += 1;
    const ref = tabRef + "-" + refs;
    const frame = { type: "send", conv: S.current, sender: senderFor(S.current), parts, ref };
    if (S.replyTo) frame.reply_to = S.replyTo.id;
    const problem = tooBig(text, frame);
    if (problem) {
      composerError(problem);
      input.focus();
      return; // nothing sent, nothing cleared
    }
    if (send(frame)) {
      // Kept until the server takes it: a refusal puts the text back in the box.
      S.pending.set(ref, { text, images: S.images.slice(), replyTo: S.replyTo, conv: S.current });
      input.value = "";
      S.images = [];
      renderAttachments();
      clearReply();
      closeMenus();
      updateCounter();
      composerError(null);
    }
  }

  // Why the text in the box was not sent, shown above the box (a toast would cover it).
  function composerError(text) {
    const node = $("#composer-error");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // The server refused what this tab sent as `ref`: put it back where it was typed.
  function restorePending(ref) {
    const held = S.pending.get(ref);
    if (!held) return;
    S.pending.delete(ref);
    if (held.conv !== S.current) return;
    const input = $("#text");
    if (!input.value) input.value = held.text;
    if (!S.images.length) {
      S.images = held.images;
      renderAttachments();
    }
    if (held.replyTo && !S.replyTo && S.byId.has(held.replyTo.id)) setReply(held.replyTo);
    updateCounter();
    input.focus();
  }

  function closeMenus() {
    $("#mention-menu").hidden = true;
    $("#image-row").hidden = true;
    closeCompletion();
  }

  // --- command completion: "/" in the composer lists what /help lists ----------------------

  function completions(text) {
    // Only while the first word is typed: "/gu" offers /guess-number (alias /guess) and co.
    if (/\s/.test(text)) return [];
    const items = [];
    for (const cmd of S.commands) {
      const prefix = cmd.prefix || "";
      if (!prefix || !text.startsWith(prefix)) continue;
      const typed = text.slice(prefix.length).toLowerCase();
      const names = [cmd.name, ...cmd.aliases];
      const hit =
        names.find((n) => n.toLowerCase() === typed) ??
        names.find((n) => n.toLowerCase().startsWith(typed));
      if (hit !== undefined) items.push({ cmd, word: prefix + hit, exact: hit.toLowerCase() === typed });
    }
    return items;
  }

  function closeCompletion() {
    $("#command-menu").hidden = true;
    S.completion = { items: [], index: 0 };
  }

  function updateCompletion() {
    const items = completions($("#text").value);
    const menu = $("#command-menu");
    if (!items.length) {
      closeCompletion();
      return;
    }
    S.completion = { items, index: Math.min(S.completion.index, items.length - 1) };
    menu.replaceChildren(
      ...items.map((item, index) => {
        const { cmd } = item;
        const option = h(
          "button",
          {
            type: "button",
            role: "option",
            class: "command" + (index === S.completion.index ? " active" : ""),
            testid: "command-option",
            "aria-selected": String(index === S.completion.index),
            "data-command": cmd.name,
          },
          h("span", { class: "command-name" }, item.word),
          cmd.args ? h("span", { class: "command-args" }, " " + cmd.args) : null,
          cmd.aliases.length
            ? h("span", { class: "command-aliases" }, " (" + [cmd.name, ...cmd.aliases]
                .filter((n) => (cmd.prefix || "") + n !== item.word).join(", ") + ")")
            : null,
          h("span", { class: "command-plugin" }, cmd.plugin),
          cmd.description ? h("span", { class: "command-desc" }, cmd.description) : null,
        );
        // mousedown, not click: the input keeps its focus.
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          pickCompletion(index);
        });
        return option;
      }),
    );
    $("#mention-menu").hidden = true;
    menu.hidden = false;
  }

  function pickCompletion(index) {
    const item = S.completion.items[index];
    if (!item) return;
    const input = $("#text");
    input.value = item.word + " ";
    input.setSelectionRange(input.value.length, input.value.length);
    closeCompletion();
    updateCounter();
    input.focus();
  }

  function completionKey(event) {
    const { items } = S.completion;
    if ($("#command-menu").hidden || !items.length) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      S.completion.index = (S.completion.index + step + items.length) % items.length;
      updateCompletion();
      return true;
    }
    if (event.key === "Tab" || (event.key === "Enter" && !event.shiftKey)) {
      // Enter on a command already typed in full sends it; otherwise it completes.
      if (event.key === "Enter" && items.some((item) => item.exact)) return false;
      pickCompletion(S.completion.index);
      return true;
    }
    return false;
  }

  function openMentionMenu() {
    const menu = $("#mention-menu");
    if (!menu.hidden) {
      menu.hidden = true;
      return;
    }
    menu.replaceChildren(
      ...mentionables().map((person) =>
        h("button", {
          type: "button",
          role: "menuitem",
          testid: "mention-option",
          text: "@" + person.name,
          onclick: () => insertMention(person.name),
        }),
      ),
    );
    $("#image-row").hidden = true;
    menu.hidden = false;
  }

  function insertMention(name) {
    const input = $("#text");
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    const before = input.value.slice(0, start);
    const spacer = before && !/\s$/.test(before) ? " " : "";
    input.value = before + spacer + "@" + name + " " + input.value.slice(end);
    const caret = (before + spacer + "@" + name + " ").length;
    input.setSelectionRange(caret, caret);
    $("#mention-menu").hidden = true;
    input.focus();
  }

  function attachImage() {
    const input = $("#image-url");
    const url = input.value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      toast("An image needs an http:// or https:// URL.");
      return;
    }
    S.images.push(url);
    input.value = "";
    $("#image-row").hidden = true;
    renderAttachments();
    $("#text").focus();
  }

  // --- session inspector --------------------------------------------------------------------

  function setSessions(rows) {
    const at = performance.now();
    S.sessions = rows.map((row) => ({ ...row, at }));
    renderSessions();
  }

  function leftOf(session) {
    if (session.remaining === null) return null; // no deadline while its handler works
    return Math.max(0, session.remaining - (performance.now() - session.at) / 1000);
  }

  // A chat name that opens the chat when clicked (plain text for a chat the page cannot open).
  function chatLink(conv, label, testid) {
    if (!conv) return h("span", { testid }, label || "");
    return h("a", {
      class: "where",
      href: "#",
      text: label,
      title: "Open this conversation",
      testid,
      "data-conv": conv,
      onclick: (event) => {
        event.preventDefault();
        selectConv(conv);
      },
    });
  }

  function sessionNode(row, ended) {
    // Where the session listens (from its keys), which may not be where it was opened: a
    // login started in Group 1 listens in the user's private chat only.
    const chats = row.chats && row.chats.length ? row.chats : [{ conv: row.conv, label: row.where }];
    const listens = h("div", { testid: "session-chats" }, "listens in ");
    chats.forEach((chat, index) => {
      if (index) listens.append(", ");
      listens.append(chatLink(chat.conv, chat.label, "session-chat"));
    });
    const opened = h(
      "div",
      { class: "opened", testid: "session-opened" },
      "opened",
      row.opened_by ? " by " + row.opened_by : "",
      row.where ? " in " : "",
      row.where ? chatLink(row.conv, row.where, "session-opened-in") : null,
    );
    const node = h(
      "li",
      { class: "session" + (ended ? " ended" : ""), testid: "session-card", "data-key": row.key },
      h(
        "div",
        { class: "session-top" },
        h("strong", { testid: "session-plugin" }, row.plugin),
        h("span", { class: "pill", testid: "session-filter" }, row.filter),
        !ended && row.busy ? h("span", { class: "pill busy" }, "busy") : null,
      ),
      listens,
      opened,
      h("code", { class: "key", testid: "session-key" }, row.key),
    );
    if (ended) {
      node.append(
        h(
          "div",
          { class: "session-foot" },
          h("span", { class: "reason", testid: "session-reason" }, "ended: " + row.reason),
          h("span", {}, "history " + row.history_length),
        ),
      );
      node.dataset.state = "ended";
      return node;
    }
    node.dataset.state = "open";
    const countdown = h("span", { class: "countdown", testid: "session-countdown" });
    const bar = h("span");
    const barBox = h("div", { class: "bar", testid: "session-bar" }, bar);
    const label = h("span", { testid: "session-deadline-label" });
    node.append(
      h("div", { testid: "session-deadline" }, label, countdown),
      barBox,
      h(
        "div",
        { class: "session-foot" },
        h("span", { testid: "session-stats" }, "queued " + row.queued + " · history " + row.history_length),
        h(
          "span",
          { class: "session-actions" },
          h("button", {
            type: "button",
            testid: "session-expire",
            text: "Expire now",
            title: "Fire this session's deadline now, as if its time had run out",
            disabled: row.remaining === null,
            onclick: () => send({ type: "expire_session", key: row.key }),
          }),
          h("button", {
            type: "button",
            testid: "session-close",
            text: "Close",
            onclick: () => send({ type: "close_session", key: row.key }),
          }),
        ),
      ),
    );
    row.countdown = countdown;
    row.bar = bar;
    row.barBox = barBox;
    row.label = label;
    tickSession(row);
    return node;
  }

  function tickSession(row) {
    const left = leftOf(row);
    if (left === null) {
      // No deadline can fire: a botoy session between two questions, its handler at work.
      row.label.textContent = "no deadline: ";
      row.countdown.textContent = "waiting for the handler";
      row.barBox.hidden = true;
      return;
    }
    row.label.textContent = "deadline in ";
    row.countdown.textContent = left.toFixed(1) + " s";
    row.barBox.hidden = false;
    // The bar is the current wait (a botoy question, the time since the last keep), not the
    // session's whole life.
    const span = Math.max(0.001, row.span || row.remaining || 0.001);
    row.bar.style.width = Math.min(100, (left / span) * 100).toFixed(1) + "%";
  }

  function renderSessions() {
    const now = performance.now();
    S.ended = S.ended.filter((e) => e.until > now && !S.sessions.some((s) => s.key === e.row.key));
    const list = $("#sessions");
    list.replaceChildren(
      ...S.sessions.map((row) => sessionNode(row, false)),
      ...S.ended.map((e) => sessionNode(e.row, true)),
    );
    $("#session-count").textContent = String(S.sessions.length);
    $("#no-sessions").hidden = S.sessions.length + S.ended.length > 0;
  }

  function sessionEnded(row, age) {
    S.sessions = S.sessions.filter((s) => s.key !== row.key);
    S.ended = S.ended.filter((e) => e.row.key !== row.key);
    S.ended.push({ row, until: performance.now() + ENDED_SHOWN_MS - (age || 0) * 1000 });
    renderSessions();
  }

  setInterval(() => {
    for (const row of S.sessions) if (row.countdown) tickSession(row);
    if (S.ended.some((e) => e.until <= performance.now())) renderSessions();
  }, 200);

  // --- event log ----------------------------------------------------------------------------

  function logNode(entry) {
    const text = h("span", { class: "log-text", testid: "log-text" }, entry.text);
    const node = h(
      "li",
      { testid: "log-entry" },
      h("time", {}, clock(entry.wall, true)),
      h("span", { class: "dir dir-" + entry.dir, testid: "log-dir" }, entry.dir),
      text,
    );
    if (entry.text.length > LOG_FOLD) {
      // A long message is folded to its start; "more" shows the rest, "less" folds it again.
      const chars = Array.from(entry.text);
      const short = chars.slice(0, LOG_FOLD).join("") + "…";
      text.textContent = short;
      const more = h("button", { type: "button", class: "more", testid: "log-more", text: "more" });
      more.addEventListener("click", () => {
        const open = more.textContent === "more";
        text.textContent = open ? entry.text : short;
        more.textContent = open ? "less" : "more";
      });
      text.after(more);
      node.classList.add("long");
    }
    return node;
  }

  function addLog(entry, now, render) {
    entry.wall = wallOf(entry.t, now);
    S.log.push(entry);
    const list = $("#log");
    if (S.log.length > LOG_LIMIT) {
      S.log.shift();
      if (render && list.firstChild) list.firstChild.remove();
    }
    if (render) {
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(logNode(entry));
      if (nearBottom) list.scrollTop = list.scrollHeight;
    }
  }

  function renderLog() {
    const list = $("#log");
    list.replaceChildren(...S.log.map(logNode));
    list.scrollTop = list.scrollHeight;
  }

  function setLogCollapsed(collapsed) {
    $("#log-pane").classList.toggle("collapsed", collapsed);
    $("#log-toggle").setAttribute("aria-expanded", String(!collapsed));
    storage.set("logCollapsed", collapsed);
  }

  // --- frames from the server ---------------------------------------------------------------

  function applySnapshot(frame) {
    const restarted = S.instance !== null && S.instance !== frame.instance;
    if (restarted) {
      for (const conv of new Set([S.current, ...S.convs.keys()])) {
        S.notes.set(conv, "The server restarted; earlier messages are gone.");
      }
      // The server lost its memory: offer back the users and groups this page knew, so the
      // people playing keep their names; the messages themselves are gone.
      const users = S.users.filter((u) => !frame.users.some((v) => v.id === u.id));
      const groups = S.groups.filter((g) => !frame.groups.some((v) => v.id === g.id));
      if (users.length || groups.length) send({ type: "restore", users, groups });
    }
    S.instance = frame.instance;
    S.bot = frame.bot;
    S.users = frame.users;
    S.groups = frame.groups;
    S.convs = new Map();
    S.byId = new Map();
    for (const records of Object.values(frame.conversations)) {
      for (const record of records) keep(record, frame.now);
    }
    S.log = [];
    for (const entry of frame.log) addLog(entry, frame.now, false);
    S.ended = [];
    setSessions(frame.sessions);
    for (const row of frame.ended) sessionEnded(row, row.age);
    if (!S.users.some((u) => u.id === S.me) && S.users.length) {
      // ?as= may name a user by display name too ("?as=Bob").
      const named = S.users.find((u) => u.name.toLowerCase() === String(S.me).toLowerCase());
      S.me = named ? named.id : S.users[0].id;
    }
    tabStorage.set("me", S.me);
    if (frame.limits) S.limits = { ...S.limits, ...frame.limits };
    S.commands = frame.commands || [];
    if (params.get("as") && splitConv(S.current)[0] === "private") S.current = "private:" + S.me;
    if (!convExists(S.current)) S.current = S.groups.length ? "group:" + S.groups[0].id : "private:" + S.me;
    if (S.replyTo && !S.byId.has(S.replyTo.id)) clearReply();
    renderUsers();
    renderConvs();
    renderChat();
    renderLog();
  }

  function handle(frame) {
    switch (frame.type) {
      case "snapshot":
        applySnapshot(frame);
        break;
      case "message":
        if (frame.ref) S.pending.delete(frame.ref);
        addMessage(frame.message, frame.now);
        break;
      case "users":
        S.users = frame.users;
        if (!S.users.some((u) => u.id === S.me) && S.users.length) S.me = S.users[0].id;
        renderUsers();
        renderConvs();
        renderChat();
        break;
      case "groups":
        S.groups = frame.groups;
        renderConvs();
        break;
      case "sessions":
        setSessions(frame.sessions);
        break;
      case "commands":
        S.commands = frame.commands || [];
        updateCompletion();
        break;
      case "session_ended":
        sessionEnded(frame.session, 0);
        break;
      case "log":
        addLog(frame.entry, frame.now, true);
        break;
      case "error":
        if (frame.ref) {
          restorePending(frame.ref);
          composerError(frame.message);
        } else {
          toast(frame.message);
        }
        break;
      default:
        break; // a newer server may send more; an older page ignores it
    }
  }

  // --- connection ---------------------------------------------------------------------------

  let socket = null;
  let attempt = 0;
  let retryTimer = null;

  function setStatus(text, kind) {
    const status = $("#status");
    status.textContent = text;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      toast("Not connected to the server.");
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = token ? "?token=" + encodeURIComponent(token) : "";
    url.hash = "";
    setStatus(attempt ? "reconnecting…" : "connecting…", "");
    const sock = new WebSocket(url.href);
    socket = sock;
    sock.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (frame.type === "snapshot") {
        attempt = 0;
        S.connected = true;
        setStatus("connected", "ok");
        $("#banner").hidden = true;
      }
      handle(frame);
    });
    sock.addEventListener("close", (event) => {
      if (socket !== sock) return;
      if (event.code === 1009) {
        // The server refused a frame over its hard limit: say so, and give the text back.
        toast("The server closed the connection: something sent was too big. Reconnecting.");
      }
      for (const ref of [...S.pending.keys()]) restorePending(ref);
      socket = null;
      S.connected = false;
      updateComposer();
      scheduleReconnect();
    });
  }

  // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
  function scheduleReconnect() {
    const base = Math.min(10000, 500 * 2 ** attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    attempt += 1;
    setStatus("offline", "down");
    $("#banner-text").textContent =
      "Lost the connection to the sandbox server; retrying in " + Math.ceil(delay / 1000) + " s.";
    $("#banner").hidden = false;
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (socket === null) connect();
  }

  // --- wiring -------------------------------------------------------------------------------

  function init() {
    $("#composer").addEventListener("submit", submit);
    $("#me").addEventListener("change", (event) => setMe(event.target.value, true));
    $("#reply-cancel").addEventListener("click", clearReply);
    $("#mention-btn").addEventListener("click", openMentionMenu);
    $("#image-btn").addEventListener("click", () => {
      const row = $("#image-row");
      row.hidden = !row.hidden;
      $("#mention-menu").hidden = true;
      if (!row.hidden) $("#image-url").focus();
    });
    $("#image-add").addEventListener("click", attachImage);
    $("#image-url").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        attachImage();
      }
    });
    $("#text").addEventListener("input", () => {
      updateCounter();
      updateCompletion();
    });
    $("#text").addEventListener("blur", () => setTimeout(closeCompletion, 150));
    $("#text").addEventListener("keydown", (event) => {
      if (completionKey(event)) {
        event.preventDefault();
        return;
      }
      if (event.key === "Escape") {
        clearReply();
        closeMenus();
      }
    });
    for (const [button, form, type] of [
      ["#add-user", "#add-user-form", "add_user"],
      ["#add-group", "#add-group-form", "add_group"],
    ]) {
      $(button).addEventListener("click", () => {
        $(form).hidden = !$(form).hidden;
        if (!$(form).hidden) $(form).elements.name.focus();
      });
      $(form).addEventListener("submit", (event) => {
        event.preventDefault();
        const name = $(form).elements.name.value.trim();
        if (name && send({ type, name })) {
          $(form).reset();
          $(form).hidden = true;
        }
      });
    }
    $("#sessions-toggle").addEventListener("click", () => {
      const folded = $("#side").classList.toggle("folded");
      $("#sessions-toggle").setAttribute("aria-expanded", String(!folded));
      storage.set("sessionsFolded", folded);
    });
    if (storage.get("sessionsFolded", false)) {
      $("#side").classList.add("folded");
      $("#sessions-toggle").setAttribute("aria-expanded", "false");
    }
    $("#log-toggle").addEventListener("click", () => {
      setLogCollapsed(!$("#log-pane").classList.contains("collapsed"));
    });
    $("#reconnect-now").addEventListener("click", () => {
      clearTimeout(retryTimer);
      reconnectNow();
    });
    window.addEventListener("online", () => {
      clearTimeout(retryTimer);
      reconnectNow();
    });
    // On a phone the log starts folded: the session strip needs the room.
    setLogCollapsed(storage.get("logCollapsed", window.matchMedia("(max-width: 800px)").matches));
    updateComposer();
    connect();
  }

  init();
})();
