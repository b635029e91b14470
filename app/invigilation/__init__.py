"""Invigilation (监考): who watches which exam session, the live dashboard, messages and the
invigilator's actions (extra time, force-submit, void)."""
