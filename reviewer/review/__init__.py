"""Hiring review (issue 15): notes on events, scorecards, the blind rule, the team decision
synced to Promptster, read positions and anonymized review.

`models` holds the rows; `board` decides who sees what (the blind rule, in one place);
`notes`, `scorecards`, `sync` and `anonymity` hold the actions; `slots` fills the per-reader
parts of cached timeline HTML.
"""
