"""The console's words in German and English (one dictionary per language, the same keys in both: a
test checks it) and numbers, money, shares and dates written as each language writes them
(de: 1.234,5 and 05.12.2026; en: 1,234.5 and 5 Dec 2026)."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("en", "de")
DEFAULT = "en"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "console": "Emma console",
        "lang.en": "English",
        "lang.de": "Deutsch",
        "lang.switch": "Language",
        "nav.overview": "Overview",
        "nav.journeys": "Journeys",
        "nav.messages": "Messages",
        "nav.segments": "Segments",
        "nav.customer": "Customer",
        "nav.offers": "Offers",
        "nav.main": "Main navigation",
        "signin.title": "Sign in",
        "signin.intro": "Sign in with your shop's admin key. The key is checked once and never stored in the "
        "browser; the session ends after 8 hours, when you sign out or when the key is rotated.",
        "signin.shop": "Shop id",
        "signin.key": "Admin key",
        "signin.submit": "Sign in",
        "signin.wrong": "This admin key is not valid. Check the key and try again.",
        "signin.missing": "Enter the shop id and the admin key.",
        "signin.other_shop": "This admin key belongs to another shop than {shop}.",
        "signin.expired": "Your session has ended. Please sign in again.",
        "signin.cross_site": "This form was sent from another site; nothing was done. Open the console and "
        "sign in there.",
        "signout": "Sign out",
        "signout.done": "You are signed out.",
        "shop": "Shop",
        "range": "Range",
        "range.days": "{days} days",
        "range.label": "{since} \u2013 {until}",
        "range.bad": "The range must be 7, 30 or 90 days.",
        "model": "Attribution model",
        "model.last_touch": "Last touch",
        "model.linear": "Linear",
        "model.position": "Position-based (40/20/40)",
        "model.coupon": "Coupon",
        "model.bad": "Unknown attribution model.",
        "show": "Show",
        "none": "none",
        "nodata": "No data in this range.",
        "error.title": "Something is not right",
        "error.not_found": "Not found",
        "error.bad_request": "Bad request",
        "error.forbidden": "Not allowed",
        "error.unavailable": "Emma is busy right now. Please try again in a moment.",
        "error.internal": "An unexpected error in Emma; it is logged.",
        "back": "Back to the overview",
        # overview
        "overview.title": "Overview",
        "kpi.snapshot": "Customers (snapshot of {day})",
        "kpi.snapshot.none": "No daily snapshot in this range yet.",
        "kpi.orders": "Orders",
        "kpi.revenue": "Revenue",
        "kpi.attributed": "Revenue attributed to Emma",
        "kpi.deliverability": "Deliverability",
        "kpi.sent": "Sent",
        "kpi.delivered": "Delivered",
        "kpi.bounce_rate": "Bounce rate",
        "kpi.complaint_rate": "Complaint rate",
        "kpi.share": "{share} of revenue",
        "snap.customers": "Customers known",
        "snap.reachable_email": "Reachable by email",
        "snap.reachable_sms": "Reachable by SMS",
        "snap.reachable_push": "Reachable by push",
        "snap.active_30d": "Active in 30 days",
        "snap.active_90d": "Active in 90 days",
        "snap.new_30d": "New in 30 days",
        "snap.lapsed": "Lapsed",
        "snap.never_opens": "Never open",
        "snap.never_opens_share": "Share who never open",
        "snap.stages": "Lifecycle stages",
        "trend.revenue": "Revenue and attributed revenue per day",
        "trend.orders": "Orders per day",
        "trend.messages": "Messages sent and delivered per day",
        "trend.customers": "Customers known per day",
        "series.revenue": "Revenue",
        "series.attributed": "Attributed ({model})",
        "series.orders": "Orders",
        "series.sent": "Sent",
        "series.delivered": "Delivered",
        "series.customers": "Customers",
        "attr.by_channel": "Attributed revenue by channel ({model})",
        "attr.by_journey": "Attributed revenue by journey ({model})",
        "attr.table": "Attributed revenue per model",
        "attr.none": "No revenue attributed in this range.",
        "col.channel": "Channel",
        "col.journey": "Journey",
        "col.model": "Model",
        "col.revenue": "Revenue",
        "col.conversions": "Conversions",
        "col.share": "Share of revenue",
        "journey.none": "(no journey)",
        "channel.email": "Email",
        "channel.sms": "SMS",
        "channel.push": "Push",
        "channel.-": "(none)",
        "channel.best": "best channel",
        # journeys
        "journeys.title": "Journeys",
        "journeys.none": "No journeys are defined.",
        "col.entered": "Entered",
        "col.completed": "Completed",
        "col.exited": "Exited early",
        "col.failed": "Failed",
        "col.converted": "Converted",
        "col.step": "Step",
        "col.kind": "Kind",
        "col.waiting": "Waiting",
        "count.entered": "entered",
        "count.waiting": "waiting",
        "count.converted": "converted",
        "count.exited": "exited",
        "kind.send": "send",
        "kind.wait": "wait",
        "kind.branch": "branch",
        "kind.split": "split",
        "kind.update": "update",
        "kind.emit": "emit",
        "kind.exit": "exit",
        "kind.step": "step",
        "journey.title": "Journey {journey}",
        "journey.graph": "The journey's steps with their customers",
        "journey.graph.desc": "{steps} steps; {entered} customers entered the first step in this range.",
        "journey.funnel": "Funnel by step",
        "journey.timeout": "timeout",
        "journey.otherwise": "otherwise",
        "journey.when": "condition {n}",
        "journey.unknown": "There is no journey {journey}.",
        "exp.title": "Experiments",
        "exp.none": "This journey has no split step.",
        "exp.step": "Split {step} (control: {control}, window {days} days)",
        "exp.arm": "Arm",
        "exp.customers": "Customers",
        "exp.conversion": "Conversion rate (95 % CI)",
        "exp.lift": "Lift vs control (95 % CI)",
        "exp.lift_rel": "Relative lift (95 % CI)",
        "exp.p": "p-value",
        "exp.beat": "P(beats control)",
        "exp.rpc": "Revenue / customer",
        "exp.incremental": "Incremental revenue",
        "exp.discount": "Discount cost",
        "exp.needed": "Customers still needed",
        "exp.control": "control",
        "exp.holdout": "holdout",
        "exp.winner": "Winner: {arm}",
        "exp.chi": "Chi-squared across arms: {chi}, p = {p}",
        "exp.note": "Note",
        # offers
        "offers.title": "Offers",
        "offers.intro": "What the coupons add: per template with a coupon and per band of the customer's purchase "
        "probability (P(buy) within 30 days, when the message went out), the customers given the coupon against "
        "those who got the same message without it. Orders within {days} days of the message count.",
        "offers.settings": "Incentive settings",
        "offers.provider": "Coupon provider",
        "offers.provider.none": "none: coupon messages go without a code",
        "offers.provider.shopify": "Shopify",
        "offers.provider.woocommerce": "WooCommerce",
        "offers.provider.shopware": "Shopware 6",
        "offers.provider.pool": "pool of codes uploaded by the shop",
        "offers.provider.broken": "not valid, coupon messages wait: {problem}",
        "offers.control_share": "Control share (the message without the coupon)",
        "offers.explore_share": "Exploration share (the coupon for those predicted to buy anyway)",
        "offers.window": "Orders counted",
        "offers.window.days": "{days} days after the message",
        "offers.margin": "Margin",
        "offers.min_per_arm": "Customers per arm before a band is measured",
        "offers.readout": "Coupons",
        "offers.none": "No coupon message has been sent yet. Once a template with a coupon goes out, its arms and "
        "what the coupon adds appear here.",
        "offers.coupon_templates": "Templates with a coupon",
        "offers.coupon": "{percent}% off, valid for {days} days",
        "offers.minimum": "minimum order {amount}",
        "offers.policy": "policy: {policy}",
        "offers.policy.always": "always",
        "offers.policy.predicted": "predicted (the coupon for those predicted not to buy without one)",
        "offers.kind.reward": "a promised reward, never withheld",
        "offers.measured": "Uplift measured in {measured} of {bands} bands.",
        "offers.band": "P(buy) {low} \u2013 {high}",
        "offers.band.none": "No purchase probability yet (no order)",
        "offers.discount": "Discount given",
        "offers.net": "Net incremental revenue (after the discount)",
        "offers.arm.coupon": "coupon",
        "offers.arm.control": "without the coupon",
        "offers.arm.explore": "explore (coupon anyway)",
        "offers.arm.withheld": "withheld (predicted to buy anyway)",
        "offers.verdict": "Verdict",
        "offers.verdict.pays": "the coupon pays here. Conversion with it minus without: {lift} (95 % CI {ci}); "
        "it earns {value} per customer given one, at a {margin} margin after the discount.",
        "offers.verdict.does_not_pay": "the coupon does not pay here. Conversion with it minus without: {lift} "
        "(95 % CI {ci}); it earns {value} per customer given one, at a {margin} margin after the discount.",
        "offers.verdict.not_measured": "not measured yet: {more} more customers per arm needed (each arm needs "
        "{min}; so far {treated} with the coupon, {untreated} without).",
        "offers.verdict.no_band": "not part of the uplift estimate: these customers had no purchase probability yet.",
        "offers.untouched": "No customer yet in {bands}: not measured.",
        # messages
        "messages.title": "Messages",
        "messages.table": "Per template and channel",
        "messages.none": "No messages in this range.",
        "col.template": "Template",
        "col.requested": "Requested",
        "col.sent": "Sent",
        "col.skipped": "Skipped",
        "col.delivered": "Delivered",
        "col.opened": "Opened",
        "col.clicked": "Clicked",
        "col.bounced": "Bounced",
        "col.complained": "Complaints",
        "col.unsubscribed": "Unsubscribed",
        "col.delivery_rate": "Delivery rate",
        "col.open_rate": "Open rate",
        "col.click_rate": "Click rate",
        "col.click_to_open_rate": "Click-to-open",
        "col.bounce_rate": "Bounce rate",
        "col.complaint_rate": "Complaint rate",
        "col.unsubscribe_rate": "Unsubscribe rate",
        "col.conversion_rate": "Conversion rate",
        "col.revenue_per_message": "Revenue / message",
        "total": "Total",
        "preview": "Preview",
        "templates.all": "All templates",
        "template.title": "Template {template}",
        "template.unknown": "There is no template {template}.",
        "template.purpose": "Purpose",
        "template.topic": "Topic",
        "template.channels": "Channels",
        "template.description": "Description",
        "template.sample": "Rendered for a sample customer ({name}, {email}), with this shop's settings.",
        "template.for_customer": "Rendered for customer {profile}, with this shop's settings.",
        "template.customer": "Preview for a customer (email, customer id or profile id; empty: sample)",
        "template.channel": "Channel",
        "template.locale": "Message language",
        "template.subject": "Subject",
        "template.preheader": "Preheader",
        "template.html": "Email (HTML)",
        "template.text": "Email (text)",
        "template.sms": "SMS",
        "template.push": "Push notification",
        "template.frame": "The rendered email",
        "template.no_channel": "This template has no content for {channel}.",
        "template.cannot": "This message cannot be rendered for this shop: {reason}",
        "purpose.marketing": "marketing",
        "purpose.transactional": "transactional",
        "purpose.confirmation": "confirmation (double opt-in)",
        "sample.first_name": "Erika",
        "sample.last_name": "Mustermann",
        # segments
        "segments.title": "Segments",
        "segments.sizes": "Current sizes",
        "segments.none": "No segment has members yet.",
        "segments.trend": "Sizes over time (daily snapshots)",
        "segments.trend.none": "No daily snapshots with segment sizes in this range.",
        "segments.members": "Members",
        "segments.segment": "Segment",
        "segments.search": "Search (the start of an email, customer id or profile id)",
        "segments.find": "Find",
        "segments.members.unavailable": "The member list is not available in this deployment yet.",
        "segments.members.none": "No members found.",
        "segments.more": "More",
        "col.segment": "Segment",
        "col.size": "Customers",
        "col.profile": "Profile",
        "col.email": "Email",
        "col.name": "Name",
        "col.customer_id": "Customer id",
        "col.since": "Since",
        "col.first_seen": "Known since",
        # customer
        "customer.title": "Customer",
        "customer.lookup": "Find a customer",
        "customer.ref": "Email, shop customer id or profile id",
        "customer.find": "Find",
        "customer.not_found": "No customer {ref} in this shop.",
        "customer.timeline": "Timeline",
        "customer.timeline.none": "Nothing recorded yet.",
        "customer.consent": "Consent",
        "customer.topics": "Topics",
        "customer.pause": "Paused until {until}",
        "customer.segments": "Segments",
        "customer.stage": "Lifecycle stage",
        "customer.predictions": "Predictions",
        "customer.rfm": "RFM",
        "customer.orders": "Orders",
        "customer.identities": "Identities",
        "customer.journeys": "Journeys",
        "customer.granted": "granted",
        "customer.withdrawn": "withdrawn",
        "customer.unknown": "not given",
        "customer.doi": "confirmed (double opt-in)",
        "customer.since": "since {at}",
        "customer.suppressed": "suppressed: {reason}",
        "customer.declined": "declined",
        "customer.wanted": "wanted",
        "customer.orders.summary": "{count} orders, {revenue}",
        "tl.event": "Event",
        "tl.message": "Message",
        "tl.journey": "Journey",
        "tl.consent": "Consent",
        "tl.all": "All",
        "tl.when": "When",
        "tl.what": "What",
        "tl.details": "Details",
        "tl.consent.state": "{channel}: {state}",
        "tl.message.title": "{template} by {channel}: {status}",
        "tl.journey.title": "{journey} · {step}: {what}",
        "status.sent": "sent",
        "status.skipped": "skipped",
        "status.deferred": "deferred",
        "status.failed": "failed",
        "status.sending": "sending",
        "status.unknown": "unknown",
        "status.claimed": "in progress",
        "status.active": "active",
        "status.completed": "completed",
        "status.exited": "exited",
        "what.entered": "entered",
        "what.arrived": "arrived",
        "what.sent": "sent",
        "what.split": "assigned to an arm",
        "what.waiting": "waiting",
        "what.timed_out": "timed out",
        "what.capped": "message cap reached",
        "what.updated": "profile updated",
        "what.emitted": "event emitted",
        "what.branched": "branched",
        "what.completed": "completed",
        "what.exited": "exited",
        "what.failed": "failed",
        "what.refused": "not started",
        "yes": "yes",
        "no": "no",
    },
    "de": {
        "console": "Emma-Konsole",
        "lang.en": "English",
        "lang.de": "Deutsch",
        "lang.switch": "Sprache",
        "nav.overview": "Übersicht",
        "nav.journeys": "Journeys",
        "nav.messages": "Nachrichten",
        "nav.segments": "Segmente",
        "nav.customer": "Kunde",
        "nav.offers": "Angebote",
        "nav.main": "Hauptnavigation",
        "signin.title": "Anmelden",
        "signin.intro": "Melde dich mit dem Admin-Schlüssel deines Shops an. Der Schlüssel wird einmal geprüft "
        "und nie im Browser gespeichert; die Sitzung endet nach 8 Stunden, beim Abmelden oder wenn der "
        "Schlüssel gewechselt wird.",
        "signin.shop": "Shop-ID",
        "signin.key": "Admin-Schlüssel",
        "signin.submit": "Anmelden",
        "signin.wrong": "Dieser Admin-Schlüssel ist ungültig. Bitte prüfe den Schlüssel und versuche es erneut.",
        "signin.missing": "Bitte gib Shop-ID und Admin-Schlüssel ein.",
        "signin.other_shop": "Dieser Admin-Schlüssel gehört zu einem anderen Shop als {shop}.",
        "signin.expired": "Deine Sitzung ist abgelaufen. Bitte melde dich erneut an.",
        "signin.cross_site": "Dieses Formular wurde von einer anderen Website gesendet; es ist nichts geschehen. "
        "Öffne die Konsole und melde dich dort an.",
        "signout": "Abmelden",
        "signout.done": "Du bist abgemeldet.",
        "shop": "Shop",
        "range": "Zeitraum",
        "range.days": "{days} Tage",
        "range.label": "{since} \u2013 {until}",
        "range.bad": "Der Zeitraum muss 7, 30 oder 90 Tage lang sein.",
        "model": "Attributionsmodell",
        "model.last_touch": "Letzter Kontakt",
        "model.linear": "Linear",
        "model.position": "Positionsbasiert (40/20/40)",
        "model.coupon": "Gutschein",
        "model.bad": "Unbekanntes Attributionsmodell.",
        "show": "Anzeigen",
        "none": "keine",
        "nodata": "Keine Daten in diesem Zeitraum.",
        "error.title": "Hier stimmt etwas nicht",
        "error.not_found": "Nicht gefunden",
        "error.bad_request": "Ungültige Anfrage",
        "error.forbidden": "Nicht erlaubt",
        "error.unavailable": "Emma ist gerade ausgelastet. Bitte versuche es gleich noch einmal.",
        "error.internal": "Ein unerwarteter Fehler in Emma; er wurde protokolliert.",
        "back": "Zurück zur Übersicht",
        "overview.title": "Übersicht",
        "kpi.snapshot": "Kunden (Stand vom {day})",
        "kpi.snapshot.none": "In diesem Zeitraum gibt es noch keinen Tagesstand.",
        "kpi.orders": "Bestellungen",
        "kpi.revenue": "Umsatz",
        "kpi.attributed": "Umsatz durch Emma",
        "kpi.deliverability": "Zustellbarkeit",
        "kpi.sent": "Gesendet",
        "kpi.delivered": "Zugestellt",
        "kpi.bounce_rate": "Bounce-Rate",
        "kpi.complaint_rate": "Beschwerderate",
        "kpi.share": "{share} des Umsatzes",
        "snap.customers": "Bekannte Kunden",
        "snap.reachable_email": "Per E-Mail erreichbar",
        "snap.reachable_sms": "Per SMS erreichbar",
        "snap.reachable_push": "Per Push erreichbar",
        "snap.active_30d": "Aktiv in 30 Tagen",
        "snap.active_90d": "Aktiv in 90 Tagen",
        "snap.new_30d": "Neu in 30 Tagen",
        "snap.lapsed": "Abgewandert",
        "snap.never_opens": "Öffnen nie",
        "snap.never_opens_share": "Anteil, der nie öffnet",
        "snap.stages": "Lebenszyklus-Phasen",
        "trend.revenue": "Umsatz und zugeordneter Umsatz pro Tag",
        "trend.orders": "Bestellungen pro Tag",
        "trend.messages": "Gesendete und zugestellte Nachrichten pro Tag",
        "trend.customers": "Bekannte Kunden pro Tag",
        "series.revenue": "Umsatz",
        "series.attributed": "Zugeordnet ({model})",
        "series.orders": "Bestellungen",
        "series.sent": "Gesendet",
        "series.delivered": "Zugestellt",
        "series.customers": "Kunden",
        "attr.by_channel": "Zugeordneter Umsatz nach Kanal ({model})",
        "attr.by_journey": "Zugeordneter Umsatz nach Journey ({model})",
        "attr.table": "Zugeordneter Umsatz je Modell",
        "attr.none": "In diesem Zeitraum wurde kein Umsatz zugeordnet.",
        "col.channel": "Kanal",
        "col.journey": "Journey",
        "col.model": "Modell",
        "col.revenue": "Umsatz",
        "col.conversions": "Conversions",
        "col.share": "Anteil am Umsatz",
        "journey.none": "(keine Journey)",
        "channel.email": "E-Mail",
        "channel.sms": "SMS",
        "channel.push": "Push",
        "channel.-": "(keiner)",
        "channel.best": "bester Kanal",
        "journeys.title": "Journeys",
        "journeys.none": "Es sind keine Journeys definiert.",
        "col.entered": "Eingetreten",
        "col.completed": "Abgeschlossen",
        "col.exited": "Vorzeitig beendet",
        "col.failed": "Fehlgeschlagen",
        "col.converted": "Konvertiert",
        "col.step": "Schritt",
        "col.kind": "Art",
        "col.waiting": "Wartend",
        "count.entered": "eingetreten",
        "count.waiting": "wartend",
        "count.converted": "konvertiert",
        "count.exited": "beendet",
        "kind.send": "senden",
        "kind.wait": "warten",
        "kind.branch": "verzweigen",
        "kind.split": "aufteilen",
        "kind.update": "ändern",
        "kind.emit": "melden",
        "kind.exit": "ende",
        "kind.step": "Schritt",
        "journey.title": "Journey {journey}",
        "journey.graph": "Die Schritte der Journey mit ihren Kunden",
        "journey.graph.desc": "{steps} Schritte; {entered} Kunden haben in diesem Zeitraum den ersten Schritt "
        "erreicht.",
        "journey.funnel": "Trichter nach Schritt",
        "journey.timeout": "Zeit abgelaufen",
        "journey.otherwise": "sonst",
        "journey.when": "Bedingung {n}",
        "journey.unknown": "Es gibt keine Journey {journey}.",
        "exp.title": "Experimente",
        "exp.none": "Diese Journey hat keinen Aufteilungsschritt.",
        "exp.step": "Aufteilung {step} (Kontrolle: {control}, Fenster {days} Tage)",
        "exp.arm": "Gruppe",
        "exp.customers": "Kunden",
        "exp.conversion": "Conversion-Rate (95-%-KI)",
        "exp.lift": "Lift ggü. Kontrolle (95-%-KI)",
        "exp.lift_rel": "Relativer Lift (95-%-KI)",
        "exp.p": "p-Wert",
        "exp.beat": "P(schlägt Kontrolle)",
        "exp.rpc": "Umsatz / Kunde",
        "exp.incremental": "Zusätzlicher Umsatz",
        "exp.discount": "Rabattkosten",
        "exp.needed": "Noch benötigte Kunden",
        "exp.control": "Kontrolle",
        "exp.holdout": "Holdout",
        "exp.winner": "Gewinner: {arm}",
        "exp.chi": "Chi-Quadrat über alle Gruppen: {chi}, p = {p}",
        "exp.note": "Hinweis",
        # offers
        "offers.title": "Angebote",
        "offers.intro": "Was die Gutscheine bringen: je Vorlage mit Gutschein und je Band der Kaufwahrscheinlichkeit "
        "des Kunden (P(Kauf) in 30 Tagen, als die Nachricht hinausging) die Kunden mit Gutschein gegen die, die "
        "dieselbe Nachricht ohne ihn bekamen. Es zählen Bestellungen bis {days} Tage nach der Nachricht.",
        "offers.settings": "Einstellungen für Anreize",
        "offers.provider": "Gutschein-Anbieter",
        "offers.provider.none": "keiner: Nachrichten mit Gutschein gehen ohne Code hinaus",
        "offers.provider.shopify": "Shopify",
        "offers.provider.woocommerce": "WooCommerce",
        "offers.provider.shopware": "Shopware 6",
        "offers.provider.pool": "vom Shop hochgeladener Code-Pool",
        "offers.provider.broken": "ungültig, Nachrichten mit Gutschein warten: {problem}",
        "offers.control_share": "Kontrollanteil (die Nachricht ohne Gutschein)",
        "offers.explore_share": "Explorationsanteil (der Gutschein für die, die voraussichtlich ohnehin kaufen)",
        "offers.window": "Gezählte Bestellungen",
        "offers.window.days": "{days} Tage nach der Nachricht",
        "offers.margin": "Marge",
        "offers.min_per_arm": "Kunden je Gruppe, bevor ein Band gemessen ist",
        "offers.readout": "Gutscheine",
        "offers.none": "Noch keine Nachricht mit Gutschein verschickt. Sobald eine Vorlage mit Gutschein hinausgeht, "
        "stehen hier ihre Gruppen und was der Gutschein bringt.",
        "offers.coupon_templates": "Vorlagen mit Gutschein",
        "offers.coupon": "{percent} % Rabatt, {days} Tage gültig",
        "offers.minimum": "Mindestbestellwert {amount}",
        "offers.policy": "Regel: {policy}",
        "offers.policy.always": "immer",
        "offers.policy.predicted": "vorhergesagt (der Gutschein für die, die voraussichtlich ohne ihn nicht kaufen)",
        "offers.kind.reward": "eine versprochene Belohnung, nie zurückgehalten",
        "offers.measured": "Uplift in {measured} von {bands} Bändern gemessen.",
        "offers.band": "P(Kauf) {low} \u2013 {high}",
        "offers.band.none": "Noch keine Kaufwahrscheinlichkeit (keine Bestellung)",
        "offers.discount": "Gewährter Rabatt",
        "offers.net": "Zusätzlicher Umsatz (nach dem Rabatt)",
        "offers.arm.coupon": "Gutschein",
        "offers.arm.control": "ohne Gutschein",
        "offers.arm.explore": "Exploration (Gutschein trotzdem)",
        "offers.arm.withheld": "zurückgehalten (kauft voraussichtlich ohnehin)",
        "offers.verdict": "Urteil",
        "offers.verdict.pays": "Der Gutschein lohnt sich hier. Conversion mit ihm minus ohne: {lift} (95-%-KI {ci}); "
        "er bringt {value} je Kunde mit Gutschein, bei {margin} Marge nach dem Rabatt.",
        "offers.verdict.does_not_pay": "Der Gutschein lohnt sich hier nicht. Conversion mit ihm minus ohne: {lift} "
        "(95-%-KI {ci}); er bringt {value} je Kunde mit Gutschein, bei {margin} Marge nach dem Rabatt.",
        "offers.verdict.not_measured": "Noch nicht gemessen: {more} weitere Kunden je Gruppe nötig (jede Gruppe "
        "braucht {min}; bisher {treated} mit Gutschein, {untreated} ohne).",
        "offers.verdict.no_band": "Nicht Teil der Uplift-Schätzung: diese Kunden hatten noch keine "
        "Kaufwahrscheinlichkeit.",
        "offers.untouched": "Noch kein Kunde in {bands}: nicht gemessen.",
        "messages.title": "Nachrichten",
        "messages.table": "Nach Vorlage und Kanal",
        "messages.none": "Keine Nachrichten in diesem Zeitraum.",
        "col.template": "Vorlage",
        "col.requested": "Angefragt",
        "col.sent": "Gesendet",
        "col.skipped": "Übersprungen",
        "col.delivered": "Zugestellt",
        "col.opened": "Geöffnet",
        "col.clicked": "Geklickt",
        "col.bounced": "Bounces",
        "col.complained": "Beschwerden",
        "col.unsubscribed": "Abgemeldet",
        "col.delivery_rate": "Zustellrate",
        "col.open_rate": "Öffnungsrate",
        "col.click_rate": "Klickrate",
        "col.click_to_open_rate": "Klicks je Öffnung",
        "col.bounce_rate": "Bounce-Rate",
        "col.complaint_rate": "Beschwerderate",
        "col.unsubscribe_rate": "Abmelderate",
        "col.conversion_rate": "Conversion-Rate",
        "col.revenue_per_message": "Umsatz / Nachricht",
        "total": "Summe",
        "preview": "Vorschau",
        "templates.all": "Alle Vorlagen",
        "template.title": "Vorlage {template}",
        "template.unknown": "Es gibt keine Vorlage {template}.",
        "template.purpose": "Zweck",
        "template.topic": "Thema",
        "template.channels": "Kanäle",
        "template.description": "Beschreibung",
        "template.sample": "Dargestellt für eine Beispielkundin ({name}, {email}) mit den Einstellungen dieses Shops.",
        "template.for_customer": "Dargestellt für den Kunden {profile} mit den Einstellungen dieses Shops.",
        "template.customer": "Vorschau für einen Kunden (E-Mail, Kundennummer oder Profil-ID; leer: Beispiel)",
        "template.channel": "Kanal",
        "template.locale": "Sprache der Nachricht",
        "template.subject": "Betreff",
        "template.preheader": "Vorschautext",
        "template.html": "E-Mail (HTML)",
        "template.text": "E-Mail (Text)",
        "template.sms": "SMS",
        "template.push": "Push-Nachricht",
        "template.frame": "Die dargestellte E-Mail",
        "template.no_channel": "Diese Vorlage hat keinen Inhalt für {channel}.",
        "template.cannot": "Diese Nachricht kann für diesen Shop nicht erstellt werden: {reason}",
        "purpose.marketing": "Werbung",
        "purpose.transactional": "transaktional",
        "purpose.confirmation": "Bestätigung (Double-Opt-in)",
        "sample.first_name": "Erika",
        "sample.last_name": "Mustermann",
        "segments.title": "Segmente",
        "segments.sizes": "Aktuelle Größen",
        "segments.none": "Noch kein Segment hat Mitglieder.",
        "segments.trend": "Größen im Zeitverlauf (Tagesstände)",
        "segments.trend.none": "In diesem Zeitraum gibt es keine Tagesstände mit Segmentgrößen.",
        "segments.members": "Mitglieder",
        "segments.segment": "Segment",
        "segments.search": "Suche (Anfang von E-Mail, Kundennummer oder Profil-ID)",
        "segments.find": "Suchen",
        "segments.members.unavailable": "Die Mitgliederliste ist in dieser Installation noch nicht verfügbar.",
        "segments.members.none": "Keine Mitglieder gefunden.",
        "segments.more": "Weitere",
        "col.segment": "Segment",
        "col.size": "Kunden",
        "col.profile": "Profil",
        "col.email": "E-Mail",
        "col.name": "Name",
        "col.customer_id": "Kundennummer",
        "col.since": "Seit",
        "col.first_seen": "Bekannt seit",
        "customer.title": "Kunde",
        "customer.lookup": "Kunden finden",
        "customer.ref": "E-Mail, Kundennummer des Shops oder Profil-ID",
        "customer.find": "Suchen",
        "customer.not_found": "Kein Kunde {ref} in diesem Shop.",
        "customer.timeline": "Zeitleiste",
        "customer.timeline.none": "Noch nichts aufgezeichnet.",
        "customer.consent": "Einwilligung",
        "customer.topics": "Themen",
        "customer.pause": "Pausiert bis {until}",
        "customer.segments": "Segmente",
        "customer.stage": "Lebenszyklus-Phase",
        "customer.predictions": "Vorhersagen",
        "customer.rfm": "RFM",
        "customer.orders": "Bestellungen",
        "customer.identities": "Identitäten",
        "customer.journeys": "Journeys",
        "customer.granted": "erteilt",
        "customer.withdrawn": "widerrufen",
        "customer.unknown": "nicht erteilt",
        "customer.doi": "bestätigt (Double-Opt-in)",
        "customer.since": "seit {at}",
        "customer.suppressed": "gesperrt: {reason}",
        "customer.declined": "abgelehnt",
        "customer.wanted": "gewünscht",
        "customer.orders.summary": "{count} Bestellungen, {revenue}",
        "tl.event": "Ereignis",
        "tl.message": "Nachricht",
        "tl.journey": "Journey",
        "tl.consent": "Einwilligung",
        "tl.all": "Alle",
        "tl.when": "Wann",
        "tl.what": "Was",
        "tl.details": "Details",
        "tl.consent.state": "{channel}: {state}",
        "tl.message.title": "{template} per {channel}: {status}",
        "tl.journey.title": "{journey} · {step}: {what}",
        "status.sent": "gesendet",
        "status.skipped": "übersprungen",
        "status.deferred": "verschoben",
        "status.failed": "fehlgeschlagen",
        "status.sending": "wird gesendet",
        "status.unknown": "unbekannt",
        "status.claimed": "in Arbeit",
        "status.active": "aktiv",
        "status.completed": "abgeschlossen",
        "status.exited": "beendet",
        "what.entered": "eingetreten",
        "what.arrived": "angekommen",
        "what.sent": "gesendet",
        "what.split": "einer Gruppe zugeteilt",
        "what.waiting": "wartet",
        "what.timed_out": "Zeit abgelaufen",
        "what.capped": "Nachrichtenlimit erreicht",
        "what.updated": "Profil geändert",
        "what.emitted": "Ereignis gemeldet",
        "what.branched": "verzweigt",
        "what.completed": "abgeschlossen",
        "what.exited": "beendet",
        "what.failed": "fehlgeschlagen",
        "what.refused": "nicht gestartet",
        "yes": "ja",
        "no": "nein",
    },
}

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
DASH = "\u2013"  # en dash: no value


def language(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` if it names a language we speak, else the first of ours in Accept-Language (by q),
    else English."""
    if query in LANGUAGES:
        return query  # type: ignore[return-value]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, position, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT


class Words:
    """``words("key", name=value)``: the text in this language, with its placeholders filled."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._text = TEXT[lang]

    def __call__(self, key: str, **values: object) -> str:
        text = self._text.get(key)
        if text is None:
            text = key  # a key without a text shows itself (a test keeps this from happening)
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._text


class Formats:
    """Numbers, money, shares, dates and times as the reader's language writes them; None as a dash."""

    def __init__(self, lang: str, currency: str = "EUR", timezone: str = "UTC") -> None:
        self.lang = lang
        self.currency = currency
        try:
            self.zone = ZoneInfo(timezone)
        except (KeyError, ValueError):  # pragma: no cover - shop timezones are validated elsewhere
            self.zone = ZoneInfo("UTC")

    def _group(self, text: str) -> str:
        """Python's 1,234.5 as this language writes it."""
        if self.lang == "de":
            return text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def num(self, value: float | int | None, places: int | None = None) -> str:
        """An integer with grouping, or a decimal: ``places`` digits (default: up to one, none if whole)."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return DASH
        if places is None:
            places = 0 if float(value).is_integer() else 1
        return self._group(f"{value:,.{places}f}")

    def money(self, value: float | None, currency: str | None = None) -> str:
        if value is None or not math.isfinite(value):
            return DASH
        code = currency or self.currency
        amount = self.num(abs(value), 2)
        sign = "-" if value < 0 else ""
        symbol = _SYMBOLS.get(code, code)
        if self.lang == "de":
            return f"{sign}{amount} {symbol}"
        return f"{sign}{symbol}{amount}" if len(symbol) == 1 else f"{sign}{symbol} {amount}"

    def pct(self, ratio: float | None, places: int = 1) -> str:
        """A share (0.123) as a percentage: de 12,3 %, en 12.3%."""
        if ratio is None or not math.isfinite(ratio):
            return DASH
        text = self.num(ratio * 100, places)
        return f"{text} %" if self.lang == "de" else f"{text}%"

    def pval(self, p: float | None) -> str:
        if p is None or not math.isfinite(p):
            return DASH
        if p < 0.001:
            return "< " + self.num(0.001, 3)
        return self.num(p, 3)

    def interval(self, pair: tuple[float, float] | list[float] | None, kind: str = "pct") -> str:
        if not pair:
            return DASH
        show = self.pct if kind == "pct" else self.money
        return f"{show(pair[0])} … {show(pair[1])}"

    def date(self, value: date | str | None) -> str:
        if value is None or value == "":
            return DASH
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if self.lang == "de":
            return f"{value.day:02d}.{value.month:02d}.{value.year}"
        return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"

    def short_date(self, value: date | str) -> str:
        """Day and month (chart axes): de 05.12., en 5 Dec."""
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if self.lang == "de":
            return f"{value.day:02d}.{value.month:02d}."
        return f"{value.day} {_MONTHS_EN[value.month - 1]}"

    def local(self, value: datetime | str | None) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
        if value.tzinfo is None:
            return value
        return value.astimezone(self.zone)

    def datetime(self, value: datetime | str | None) -> str:
        """A moment in the shop's timezone."""
        at = self.local(value)
        if at is None:
            return DASH if not value else str(value)
        return f"{self.date(at.date())} {at.hour:02d}:{at.minute:02d}"
