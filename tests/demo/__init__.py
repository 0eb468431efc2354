"""`make demo`: the whole loop on this machine — the test bed, `previewbot serve`, the
GitLab and Slack stand-ins of the tests — and an MR's life played through them, with
every Slack message the bot sends shown in the terminal.

Modules: `processes` (what runs in the background, reused or started, and stopped by
`make demo-down`), `wire` (requests exactly as GitLab and Slack send them),
`slack_view` (Slack messages rendered for a terminal), `console` (progress and the
summary table), `story` (the MR's life). `python -m tests.demo up|down` runs it.
"""
