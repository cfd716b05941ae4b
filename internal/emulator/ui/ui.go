// Package ui is the Teams emulator's conversation viewer and the card preview: one page that
// shows conversations as Teams would, with Microsoft's Adaptive Cards renderer (the npm package
// adaptivecards, bundled into dist/viewer.js by `make viewer-assets` and committed, so a fresh
// clone builds without npm).
//
// The emulator serves the page live at /_emulator/ui/ (View from its state, server-sent events
// on every change); Standalone writes the same page as one self-contained HTML file with the
// View inlined, for the preview command.
package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static dist
var assets embed.FS

// View is what the page shows: the conversations of each tenant.
type View struct {
	// Title heads the page.
	Title   string   `json:"title"`
	Tenants []Tenant `json:"tenants"`
	// Live: the page is served by the emulator, which sends events and acts as users.
	Live bool `json:"live,omitempty"`
	// Problems are the card checks' findings (the preview).
	Problems []string `json:"problems,omitempty"`
}

// Tenant is one tenant's teams, group chats and people.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Apps are the catalog's apps with a bot, which a person can install.
	Apps   []App    `json:"apps,omitempty"`
	Teams  []Team   `json:"teams"`
	Chats  []Chat   `json:"chats"`
	People []Person `json:"people"`
}

// App is a Teams app with a bot.
type App struct {
	TeamsAppID string `json:"teamsAppId"`
	BotID      string `json:"botId"`
	Name       string `json:"name"`
}

// Team is a team and its channels.
type Team struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Channels []Channel `json:"channels"`
}

// Channel is a channel and its threads, oldest first.
type Channel struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Threads []Thread `json:"threads"`
}

// Thread is a channel post and its replies, oldest first.
type Thread struct {
	Root    Message   `json:"root"`
	Replies []Message `json:"replies"`
}

// Chat is a group chat.
type Chat struct {
	ID       string    `json:"id"`
	Topic    string    `json:"topic"`
	Members  []string  `json:"members"`
	Messages []Message `json:"messages"`
}

// Person is a user and their 1:1 chats with bots.
type Person struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	UPN  string `json:"upn"`
	// Installed: the user has a bot's app installed personally.
	Installed bool       `json:"installed"`
	Chats     []Personal `json:"chats"`
}

// Personal is the 1:1 chat of a person with one bot.
type Personal struct {
	ConversationID string    `json:"conversationId"`
	BotID          string    `json:"botId"`
	BotName        string    `json:"botName"`
	TeamsAppID     string    `json:"teamsAppId,omitempty"`
	Messages       []Message `json:"messages"`
}

// Message is one message as Teams holds it.
type Message struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversationId"`
	From           string     `json:"from"`
	FromUser       bool       `json:"fromUser,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      *time.Time `json:"updatedAt,omitempty"`
	Deleted        bool       `json:"deleted,omitempty"`
	// Activity is the Bot Framework activity (text, textFormat, attachments, entities,
	// channelData); the page renders it.
	Activity json.RawMessage `json:"activity"`
}

// Static serves the page's files (index.html, viewer.js, viewer.css) under prefix.
func Static(prefix string) http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	dist, err := fs.Sub(assets, "dist")
	if err != nil {
		panic(err)
	}
	bundle := http.FileServerFS(dist)
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// The page runs only its own script; card images may come from anywhere (https).
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; "+
			"style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'")
		if r.URL.Path == "viewer.js" {
			bundle.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
}

var standalone = template.Must(template.New("preview").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>{{.CSS}}</style>
</head><body>
<div id="app"></div>
<script id="view" type="application/json">{{.View}}</script>
<script>{{.JS}}</script>
</body></html>
`))

// Standalone renders v as one self-contained HTML page: the viewer's CSS and script inlined and
// v as JSON, with nothing fetched from anywhere.
func Standalone(v *View) ([]byte, error) {
	css, err := assets.ReadFile("static/viewer.css")
	if err != nil {
		return nil, err
	}
	js, err := assets.ReadFile("dist/viewer.js")
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the view: %w", err)
	}
	var out bytes.Buffer
	// template.JS and template.CSS: the embedded files are ours; the view is JSON inside a
	// script element of type application/json, escaped by html/template for that context.
	err = standalone.Execute(&out, map[string]any{
		"Title": v.Title,
		"CSS":   template.CSS(css), //nolint:gosec // our own embedded stylesheet
		"JS":    template.JS(js),   //nolint:gosec // our own embedded bundle
		"View":  template.JS(data), //nolint:gosec // JSON: json.Marshal escapes <, > and &
	})
	if err != nil {
		return nil, fmt.Errorf("rendering the page: %w", err)
	}
	return out.Bytes(), nil
}
