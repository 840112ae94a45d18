"""Infrastructure: local stand-ins for managed services, deployment files, the local stack runner."""
