"""The support desk's view of one fan: who they are, what they hold, paid and spent."""
