from server.app.settings import AgentSettings, get_settings

if __name__ == "__main__":
    get_settings()
    AgentSettings()
