"""The demo world's parameters: account fates, planted data flaws, and the vocabulary the
generated names and texts are drawn from."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Planted rates (documented in docs/demo-data.md; keep the two in step).
# --------------------------------------------------------------------------------------------
FATE_RATES = {
    # Share of all accounts. Every account gets exactly one fate.
    "churn": 0.10,  # churns inside the window after a 60-120 day decline (+ silent churners: ~12%)
    "expand": 0.10,  # rising usage, expansion outcome, larger second subscription
    "downgrade": 0.04,  # mild decline, downgrade outcome, smaller second subscription
    "silent": 0.05,  # "silent sufferers": normal usage, strongly negative text
}
SILENT_CHURN_SHARE = 0.40  # of silent sufferers churn in the last quarter of the window (no usage decline)
NEW_ACCOUNT_SHARE = 0.08  # of all accounts are created inside the window (all of them renewers)
SUBSIDIARY_SHARE = 0.05  # of non-Enterprise accounts are subsidiaries of an Enterprise parent
DIP_SHARE = 0.08  # of renewers have a temporary 30-45 day usage dip (noise: a false alarm)
TRICKLE_SHARE = 0.05  # of churners keep a tiny trickle of usage for 1-3 weeks after churn (flaw)

FLAW_RATES = {
    "usage_duplicate": 0.005,  # exact duplicate usage rows (same event_id)
    "ticket_duplicate": 0.005,  # exact duplicate tickets (same ticket_id)
    "usage_late": 0.02,  # usage rows with received_at 1-5 days after event_at
    "usage_null_account": 0.0001,  # usage rows with null account_id (contract violation)
    "usage_unknown_account": 0.00005,  # usage rows for an account_id that does not exist (RI flaw)
    "ticket_bad_timestamp": 0.001,  # tickets with an unparseable opened_at (violation)
    "ticket_bad_priority": 0.001,  # tickets with priority 'P1' (violation)
    "ticket_priority_case": 0.01,  # priorities in another case ('High'): canonicalised by the loader
    "invoice_bad_amount": 0.001,  # invoices with amount '-' (violation)
    "pii_text": 0.01,  # free texts containing an e-mail address or a phone number
    "optional_null": 0.03,  # nulls planted in optional columns
}
# Violations are rare but must exist: at least this many rows of each kind.
MIN_VIOLATIONS = 3

# Custom features of the demo (docs/features.md, docs/demo-data.md "Custom attributes and a
# custom metric"): extra landing columns declared in <landing>/<source>/_features.yml.
ACQUISITION_CHANNELS = ["inbound", "outbound", "partner", "self_serve"]
# P(channel) for accounts that will churn (fate churn, or silent) vs the others.
CHANNEL_SHARES = {"churning": [0.25, 0.20, 0.10, 0.45], "other": [0.35, 0.25, 0.25, 0.15]}
AUTO_RENEW_SHARE = {"churning": 0.30, "other": 0.75}
DEMO_DECLARATIONS = {
    "accounts": {
        "attributes": {
            "acquisition_channel": {
                "type": "categorical",
                "description": "How the account was won: inbound, outbound, partner or self_serve.",
            }
        }
    },
    "subscriptions": {
        "attributes": {"auto_renew": {"type": "boolean", "description": "The contract renews automatically."}}
    },
    "account_metrics": {
        "metrics": {
            "storage_gb": {
                "description": "Data stored in the product, GB (measured weekly)",
                "windows": [30, 90],
                "aggregations": ["avg", "latest", "change"],
            }
        }
    },
}

# Expected usage rows per account-day are tuned so that 20,000 accounts x 365 days give ~10M rows.
USAGE_ACTIVITY_BASE = 0.056

INDUSTRIES = [
    "Software", "Software", "Financial Services", "Healthcare", "Retail", "Retail",
    "Manufacturing", "Manufacturing", "Education", "Logistics", "Media", "Professional Services",
    "Professional Services",
]  # fmt: skip
COUNTRIES = [
    "US", "US", "US", "US", "US", "US", "US", "GB", "GB", "GB", "DE", "DE", "DE", "FR", "FR",
    "NL", "SE", "CA", "CA", "AU", "ES", "IT", "IE", "DK", "IN", "BR", "JP", "SG",
]  # fmt: skip
CURRENCY_BY_COUNTRY = {
    "US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR",
    "IE": "EUR", "CA": "CAD", "AU": "AUD", "SE": "SEK", "DK": "DKK",
}  # fmt: skip
OWNERS = [
    "Alice Moreau", "Ben Okafor", "Carla Jensen", "David Kim", "Elena Rossi", "Farid Haddad",
    "Grace Liu", "Hannah Schmidt", "Ivan Petrov", "Julia Santos", "Kenji Watanabe", "Laura Novak",
    "Marcus Reed", "Nadia Cohen", "Oscar Lindqvist",
]  # fmt: skip
NAME_PREFIXES = [
    "Northwind", "Bluefin", "Cobalt", "Redwood", "Silverline", "Brightpath", "Ironclad", "Sunpeak",
    "Lakeshore", "Greenfield", "Stonebridge", "Oakmont", "Clearwater", "Highland", "Summit",
    "Meridian", "Pinecrest", "Harbor", "Falcon", "Vertex", "Nimbus", "Quartz", "Juniper", "Atlas",
    "Beacon", "Crescent", "Driftwood", "Evergreen", "Foxglove", "Granite", "Horizon", "Keystone",
    "Lumen", "Maple", "Nova", "Orchid", "Polaris", "Riverbend", "Sequoia", "Tidewater",
]  # fmt: skip
NAME_MIDDLES = [
    "Logistics", "Analytics", "Health", "Foods", "Systems", "Labs", "Capital", "Retail", "Media",
    "Robotics", "Energy", "Learning", "Partners", "Software", "Manufacturing", "Travel", "Legal",
    "Insurance", "Design", "Networks",
]  # fmt: skip
NAME_SUFFIXES = ["Inc", "Ltd", "GmbH", "LLC", "Group", "AG", "BV", "SA", "Co", "Holdings"]
REGIONS = ["UK", "DACH", "Nordics", "APAC", "Iberia", "Benelux", "France", "Americas"]
FIRST_NAMES = ["anna", "tom", "maria", "james", "sofia", "lucas", "emma", "noah", "mia", "leon"]
LAST_NAMES = ["meyer", "smith", "garcia", "brown", "muller", "jones", "martin", "wilson", "fischer"]
FEATURES = [
    "login", "login", "login", "dashboard_view", "dashboard_view", "dashboard_view", "search",
    "search", "report_export", "report_export", "api_call", "api_call", "comment", "file_upload",
    "integration_sync", "workflow_run", "workflow_run", "admin_settings",
]  # fmt: skip
CHANNELS = ["twitter", "twitter", "linkedin", "linkedin", "g2", "reddit", "capterra", "community_forum"]
CHURN_REASONS = [
    "price", "product fit", "competitor", "budget cuts", "poor support experience",
    "reliability issues", "champion left", "acquired by another company",
]  # fmt: skip
EXPANSION_REASONS = ["more seats", "new department", "upgraded plan", "new use case"]
DOWNGRADE_REASONS = ["fewer seats", "budget cuts", "moved to a cheaper plan", "team reorganisation"]

# Text fragments, by sentiment. Negative texts use B2B support vocabulary.
TICKET_SUBJECTS = {
    "neg": [
        "Outage: dashboard down again", "Still waiting on a fix", "Billing error on last invoice",
        "Data sync failing for the third time", "Escalation: production issue not resolved",
        "Request to cancel our subscription", "Refund request for downtime", "Reports broken again",
        "Not acceptable: no response for a week", "API errors blocking our whole team",
    ],
    "neu": [
        "How to configure SSO", "Question about user permissions", "Export to CSV",
        "Add new users to our workspace", "Invoice copy request", "Integration setup help",
        "Change billing contact", "API rate limits question", "Scheduled reports question",
        "Password reset e-mail not received",
    ],
    "pos": [
        "Thanks for the quick help", "Feature request: more chart types",
        "Follow-up questions after a great onboarding", "Kudos to your support team",
    ],
}  # fmt: skip
TICKET_OPENERS = {
    "neg": [
        "This is not acceptable.", "The platform is down again and our team cannot work.",
        "We are still waiting for an answer after more than a week.",
        "This is the third outage this month.",
        "We were charged twice: this billing error has to be fixed now.",
        "Nobody has responded to our previous ticket.",
        "Your product keeps failing at the worst possible time.",
        "Our users are extremely frustrated.",
    ],
    "neu": ["Hi team,", "Hello,", "Good morning,", "Hi support,", "Hello support team,"],
    "pos": [
        "Thanks a lot for the quick fix yesterday!", "Great work on the new release.",
        "Your team has been incredibly helpful so far.",
    ],
}  # fmt: skip
TICKET_MIDDLES = {
    "neg": [
        "Reports time out and the data sync is broken.",
        "The integration has been failing since Monday.",
        "We lost a full day of work because of this outage.",
        "Your last fix did not solve anything, the errors are back.",
        "Please escalate this to your management immediately.",
        "The invoice amount is wrong and nobody explains why.",
        "Logins fail for half of our users.",
    ],
    "neu": [
        "we would like to add five new users to our workspace.",
        "could you explain how to configure single sign-on?",
        "how do we export a report to CSV?",
        "we need a copy of the last invoice for our records.",
        "what are the API rate limits on our plan?",
        "can we change the billing contact on our account?",
        "is it possible to schedule a weekly report?",
    ],
}  # fmt: skip
TICKET_CLOSERS = {
    "neg": [
        "If this is not resolved this week we will cancel our contract.",
        "We expect a refund for the downtime.", "We are evaluating other vendors.",
        "Please escalate, this is urgent.", "Very disappointed with the service.",
        "We are seriously considering cancelling.",
    ],
    "neu": ["Thanks.", "Thanks in advance.", "Best regards.", "Let me know if you need more details."],
    "pos": ["Keep up the great work!", "Really happy with the product.", "Thanks again, much appreciated."],
}  # fmt: skip
SURVEY_TEXTS = {
    "neg": [
        "Too many outages lately.", "Support is slow, we are still waiting on several tickets.",
        "Billing errors every month. Not acceptable.", "We are considering cancelling.",
        "The product has become unreliable.", "Price is too high for what we get.",
        "Poor support experience, nobody escalates anything.", "Down again during our busiest week.",
    ],
    "neu": [
        "It does the job.", "Okay overall, some features are missing.",
        "Decent, but reporting could be better.", "Fine for our needs.",
    ],
    "pos": [
        "Love the product, our team uses it every day.", "Great support and a reliable platform.",
        "Easy to use and saves us hours every week.", "Excellent onboarding and fast support.",
        "Would definitely recommend it to other teams.",
    ],
}  # fmt: skip
NOTE_TEXTS = {
    "neg": [
        "Customer frustrated about repeated outages; escalation requested.",
        "Champion left the company, the new contact is unresponsive.",
        "Budget cuts mentioned, renewal at risk.", "Complained about billing errors again.",
        "Exec sponsor asked about cancellation terms.",
        "Usage dropped, team moved reporting to a competitor tool.",
        "Angry call about support response times, still waiting on fixes.",
    ],
    "neu": [
        "Quarterly check-in, no major issues.", "Discussed the roadmap and upcoming features.",
        "Admin changed; scheduled onboarding for the new admin.",
        "Reviewed open tickets with the customer.",
    ],
    "pos": [
        "Great QBR, customer very happy with the value.",
        "Customer wants to roll out to another department.",
        "Strong adoption, champion is very engaged.", "Customer praised the support team.",
        "Discussed expansion to more seats next quarter.",
    ],
}  # fmt: skip
NOTE_FOLLOWUPS = {
    "neg": [
        "Next step: escalate to VP Customer Success.", "Need to send a recovery plan.",
        "Risk flagged in the forecast.",
    ],
    "neu": ["Follow-up in a month.", "No action needed.", "Sent meeting notes."],
    "pos": ["Next step: send an expansion proposal.", "Follow-up in a month.", "Asked for a case study."],
}  # fmt: skip
SOCIAL_TEXTS = {
    "neg": [
        "down again?? third time this week", "Still waiting on support for days. Not acceptable.",
        "Thinking about cancelling, the outages are killing us",
        "Billing error again, we want a refund", "Worst customer support we have dealt with this year",
    ],
    "neu": [
        "Anyone using this for reporting? Looking for tips", "Attending the vendor webinar today",
        "Migrating our workflows this week",
    ],
    "pos": [
        "Loving the new dashboards, huge time saver", "Shoutout to the support team for the quick fix!",
        "Best tool we adopted this year", "Our team is really happy with the platform",
    ],
}  # fmt: skip
