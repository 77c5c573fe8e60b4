"""The fastapi-tasks demo service: four real-world background-task examples."""
