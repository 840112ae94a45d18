"""The LiveKit voice agent: persona, memory, providers and telemetry on livekit-agents."""
