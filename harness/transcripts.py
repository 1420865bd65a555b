"""The sales call the analysis tests and benches send to the agents: short, with a buyer, a budget holder,
a competitor and next steps, so every agent finds something to say about it."""

DISCOVERY_CALL = """[00:00:04] Alice Chen: Thanks for joining, everyone. Today I want to understand your evaluation process.
[00:00:15] Bob Martinez: Sure. We have to cut onboarding time by forty percent before the Q3 board meeting.
[00:00:32] Alice Chen: Who signs off on a purchase of this size?
[00:00:40] Bob Martinez: Our CFO, Dana Wright, approves anything above fifty thousand dollars.
[00:01:02] Carol Singh: Security review usually takes three weeks, and legal needs the DPA early.
[00:01:20] Bob Martinez: We are also looking at Contoso, but their integration story is weak.
[00:01:41] Alice Chen: I will send the security questionnaire and a draft order form by Friday.
[00:02:05] Bob Martinez: Great, I will set up a call with Dana next Tuesday.
"""
