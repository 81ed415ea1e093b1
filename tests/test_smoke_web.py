from tests.conftest import login


def test_login_and_home(client):
    assert client.get("/").status_code == 302
    login(client, "marketing")
    response = client.get("/", follow_redirects=True)
    assert response.status_code == 200
    assert "营销支持科专员" in response.get_data(as_text=True)


def test_wrong_password_is_refused(client):
    from tests.conftest import csrf_token

    token = csrf_token(client)
    response = client.post("/auth/login", data={"username": "marketing", "password": "x", "csrf_token": token})
    assert response.status_code == 200
    assert "/auth/login" in response.request.path
