from server.app.settings import get_settings

if __name__ == "__main__":
    get_settings()
