"""What a command runs through the flows, above them: `init` (a project's first contract and
champion) and the demo story."""
