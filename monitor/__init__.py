"""news-monitor: watches news feeds and alerts, once per story, when a watched event is reported."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/news-monitor/news-monitor"
USER_AGENT = f"news-monitor/{__version__} (+{PROJECT_URL})"
